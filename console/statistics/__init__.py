"""Statistics for finance staff and supervisors: revenue, waivers, refunds, settlement and
delivery, summed in SQL over a range of business dates, within the reader's departments."""

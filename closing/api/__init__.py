"""The settlement reports (结报) for machines: the finance bureau's and the departments' systems.

Read only: a report is submitted and approved by people, in the console.
"""

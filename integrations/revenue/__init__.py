"""Revenue-collection systems (收入征管系统): the push of paid and refunded records."""

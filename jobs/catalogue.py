"""Catalogue jobs (connector/catalogue/): copies learn a sale price starting or ending with no
change in the master, and a CSV / POS export that is the master is re-read. Each only enqueues
its task once per time bucket."""

from jobs import Job

JOBS = [
    Job(name="catalogue-sale-dates", kind="catalogue.sale_dates", every_seconds=900),
    Job(name="catalogue-master-file", kind="catalogue.read_file", every_seconds=300),
]

"""Several bot nodes behind Kamailio on one machine: the plan, the processes, the SIP front and
the shared PostgreSQL that ``ivr cluster up|status|down`` start, report and stop."""

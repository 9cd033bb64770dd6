-- The deferred "every alarm has a message" check runs once per alarm at commit. plpgsql caches a
-- generic plan for its two look-ups, made while the tables were small: a sequential scan per alarm
-- over everything inserted so far. A broadcast of 10,000 alarms in one transaction took 8 s
-- (quadratic). Both look-ups are by primary key; forbidding sequential scans inside this function
-- makes them index look-ups whatever the statistics say: 0.5 s, linear.
alter function herald_require_message() set enable_seqscan = off;

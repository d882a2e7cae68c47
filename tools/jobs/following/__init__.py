"""Everything that decides when HeyGen is read about a job, in one folder:

reads: one read at a time per job, shared by its callers, and a wait that follows a job within its budget;
plan: when each job's next read is due, and how long a wait sleeps before it (or its next progress tick);
schedule: the estimate the plan comes from, learned from earlier renders of the same provider and shape;
pacer: the cap on reads per second for the whole process;
taskreads: when each job an MCP task follows is next read, at the task's polls.
"""

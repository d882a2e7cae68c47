"""The job logic: submit once, follow, wait within a deadline, keep the video. No MCP in here.

front: VideoJobs, the one door the tools, the CLI and the tenants use; submitting: a request to HeyGen, once,
never lost once HeyGen may have it; following/: everything that decides when HeyGen is read; saving: the
finished video, kept once; settings: what they share.

Nothing is imported here: the MCP server loads the job logic at its first tool call, not at start-up, and a
module that needs one part (tools/tasks.py needs the task reads) does not load the rest.
"""

"""The job logic: submit once, follow, wait within a deadline, keep the video. No MCP in here.

front: VideoJobs, the one door the tools, the CLI and the tenants use; submitting: a request to HeyGen, once,
never lost once HeyGen may have it; following/: everything that decides when HeyGen is read; saving: the
finished video, kept once; settings: what they share.
"""

from heygen_video_mcp.tools.jobs.front import VideoJobs
from heygen_video_mcp.tools.jobs.saving import completed_without_url
from heygen_video_mcp.tools.jobs.settings import JobSettings, Outcome, Progress, SaveProgress

__all__ = ["JobSettings", "Outcome", "Progress", "SaveProgress", "VideoJobs", "completed_without_url"]

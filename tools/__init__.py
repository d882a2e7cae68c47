"""The work: the HeyGen client, the job logic and one module per MCP tool."""

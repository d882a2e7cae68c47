"""The MCP server: configuration, the application factory and the command line."""

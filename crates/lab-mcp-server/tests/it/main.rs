//! Router tests of the MCP resource server (being written).

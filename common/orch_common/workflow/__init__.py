"""Workflow intelligence: UI/API parsing, UI→API conversion, parameters, patching, ports, capability."""

"""The sandbox's HTTP side: the server, the request pipeline, the wire protocol, SigV4.

Owns turning bytes into typed operation calls and back: routing, validation, signatures,
serialisation, and the registry that dispatches each operation to the backend. Imports
the backend and runtime rooms.
"""

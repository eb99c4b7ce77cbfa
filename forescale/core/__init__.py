"""The pure decision core: no asyncio, Redis, HTTP, torch or wall clock (DESIGN.md)."""

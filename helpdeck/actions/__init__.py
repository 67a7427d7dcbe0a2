"""HTTP actions: a company's own APIs the bot calls when a customer wants something done.

`definition` checks what a company registers, `extract` picks the action for a message and
pulls its parameters out of it, `http` makes the call, `render` turns a result into a reply.
"""

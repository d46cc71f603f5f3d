"""Board files: one per board, data first (pins, shunts, dividers, scale factors with
their derivation), `make_frontend()` last with `import machine` inside it, so CPython
imports every board file and tests its numbers."""

"""The kernel: errors aside, what every layer may use (clock, codec, inputs, ids, money, the base event, its registry and envelope)."""

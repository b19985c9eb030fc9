"""The event-driven pipeline: discovery (ECS, Cloud Map), dependency index, recompute and publish."""

"""Data-parallel training on several processes (torch.distributed): see docs/distributed.md."""

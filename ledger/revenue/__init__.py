"""Revenue and cost sharing: policy versions and a period's allocation (gather, allocate with
``core.allocation``, post). The close that runs it is ``partnership.close``."""

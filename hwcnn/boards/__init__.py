"""FPGA board profiles: resources, clock and off-chip bandwidth, each figure with its source.

The data lives in ``data/boards.yaml`` (read once, validated on load); :func:`get_board` finds a
profile by id or alias, :func:`all_boards` lists them.
"""

from .profiles import Board, DspPlan, MultiplierMode, Sourced, all_boards, get_board, normalize_id

__all__ = ["Board", "DspPlan", "MultiplierMode", "Sourced", "all_boards", "get_board", "normalize_id"]

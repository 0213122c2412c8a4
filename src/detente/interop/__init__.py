"""Interchange with the outside world: plan files and agreement files, read and checked."""

from __future__ import annotations

from detente.interop.agreement import load_agreement, parse_agreement
from detente.interop.plans import load_plan_files, parse_plan

__all__ = ["load_agreement", "load_plan_files", "parse_agreement", "parse_plan"]

"""A simulated day as one list of steps in time order, and the clock moved to each in turn.

Every step has a simulated moment; steps at the same moment keep the order they were
added in. ``play`` sets the shared clock forward to each step's moment (never back) and
runs it, so that every process sees the moment the step happens at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from simulation.clock import clock_set


@dataclass(order=True, frozen=True)
class Step:
    at: datetime
    sequence: int
    label: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)


@dataclass
class Timeline:
    steps: list[Step] = field(default_factory=list)

    def add(self, at: datetime, label: str, run: Callable[[], None]) -> None:
        self.steps.append(Step(at, len(self.steps), label, run))

    def play(self, *, before_jump: Callable[[], None], tick: Callable[[], None]) -> None:
        """Run every step in time order, adding the steps that steps add on the way;
        ``before_jump`` is called before the clock is moved forward, ``tick`` after."""
        done = 0
        while done < len(self.steps):
            pending = sorted(self.steps[done:])
            self.steps[done:] = pending
            step = self.steps[done]
            if step.at > timezone.now():
                before_jump()
                clock_set(step.at)
                tick()
            step.run()
            done += 1

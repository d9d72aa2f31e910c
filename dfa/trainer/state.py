"""The trainer's position and records, as a typed object that checkpoints as plain types.

:class:`TrainerState` is everything the loop of :mod:`dfa.trainer.train` keeps between steps:
where it is in the deterministic batch sequence (epoch, batch, step), the running mean of
the epoch's training loss, the wall time so far, the evaluation history, the alignment
angles and the per-step costs. Checkpoints are loaded with ``weights_only=True``, so the
state travels as a dict of plain containers (:meth:`TrainerState.to_dict`,
:meth:`TrainerState.from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from photonics.errors import FileFormatError

__all__ = ["TrainerState", "HISTORY_KEYS", "COST_KEYS"]

#: lists of the evaluation history, one entry per evaluation point (test metrics add ``test_<name>``)
HISTORY_KEYS = ("epoch", "step", "train_loss", "wall_s", "optical_frames", "device_time_s")
#: lists of the per-step costs, one entry per optimizer step
COST_KEYS = ("step_wall_s", "feedback_wall_s", "frames", "device_time_s")


@dataclass
class TrainerState:
    """Position and records of one method's training.

    Attributes
    ----------
    epoch, batch, step : int
        Current epoch (0-based), batches done in it, optimizer steps done in all.
    epoch_loss_sum, epoch_loss_n : float, int
        Sum and count of the training losses of the current epoch.
    wall_s : float
        Wall time of the sessions before the current one [s].
    finished : bool
        The method reached its last step (the checkpoint then carries its result).
    align_every : int or None
        Alignment diagnostics period, fixed at the first session (0: off).
    history : dict of lists
        See :data:`HISTORY_KEYS`.
    alignment : dict
        ``step`` (list), ``angle_deg`` (list of per-segment lists), ``segments`` (names).
    step_costs : dict of lists
        See :data:`COST_KEYS`.
    """

    epoch: int = 0
    batch: int = 0
    step: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_n: int = 0
    wall_s: float = 0.0
    finished: bool = False
    align_every: int | None = None
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    alignment: dict = field(default_factory=lambda: {"step": [], "angle_deg": [], "segments": []})
    step_costs: dict = field(default_factory=lambda: {k: [] for k in COST_KEYS})

    @property
    def epoch_mean_loss(self) -> float:
        """Mean training loss of the current epoch so far (NaN before its first step)."""
        return self.epoch_loss_sum / self.epoch_loss_n if self.epoch_loss_n else float("nan")

    def start_epoch(self, epoch: int) -> None:
        """Move to the start of ``epoch`` (0-based)."""
        self.epoch = epoch
        self.batch = 0
        self.epoch_loss_sum = 0.0
        self.epoch_loss_n = 0

    def count_step(self, batch_index: int, loss: float) -> None:
        """Record one optimizer step on batch ``batch_index`` of the epoch, with its loss."""
        self.step += 1
        self.batch = batch_index + 1
        self.epoch_loss_sum += loss
        self.epoch_loss_n += 1

    def to_dict(self) -> dict:
        """Plain containers only (checkpoints load with ``weights_only=True``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainerState":
        """Inverse of :meth:`to_dict`; a missing or unknown entry is a corrupt checkpoint."""
        if not isinstance(data, dict):
            raise FileFormatError(f"the checkpoint's trainer state must be a mapping (got {type(data).__name__})")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise FileFormatError(f"the checkpoint's trainer state has unknown entries {unknown}")
        state = cls(**data)
        for k in COST_KEYS:  # checkpoints of older versions lack some cost lists
            state.step_costs.setdefault(k, [])
        return state

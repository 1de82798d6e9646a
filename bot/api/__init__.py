"""linecall's Audio Caller HTTP API: Planet's Make Agent 1-to-1 Call, stored sources, callbacks, history."""

from linecall.bot.api.app import ApiConfig, AudioCallerApi
from linecall.bot.api.placer import CallOutcome, CallPlacer, EndKind

__all__ = ["ApiConfig", "AudioCallerApi", "CallOutcome", "CallPlacer", "EndKind"]

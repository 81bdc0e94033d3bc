"""arque: a reliable asyncio work queue stored in Redis.

Asynchronous, reliable (task data always in Redis, leases with fencing),
throttled (a global limit on working tasks), with delayed tasks and dead
letters. See the README and ``docs/`` for the state machine.
"""

from .dead_letters import FailedPage as FailedPage
from .durability import Durability as Durability
from .errors import ArqueError as ArqueError
from .errors import InvalidArgument as InvalidArgument
from .errors import MissingDependency as MissingDependency
from .errors import NotDurable as NotDurable
from .errors import PayloadTooLarge as PayloadTooLarge
from .errors import PermissionDenied as PermissionDenied
from .errors import RedisUnavailable as RedisUnavailable
from .errors import ResultNotFound as ResultNotFound
from .errors import ResultTimeout as ResultTimeout
from .errors import SerializationError as SerializationError
from .errors import ServerError as ServerError
from .errors import ServerUnavailable as ServerUnavailable
from .errors import TaskFailed as TaskFailed
from .errors import WorkerFailed as WorkerFailed
from .errors import WrongKeyType as WrongKeyType
from .keys import QueueKeys as QueueKeys
from .queue import MARKED_AS_FAILED as MARKED_AS_FAILED
from .queue import NOT_FOUND as NOT_FOUND
from .queue import OVERLOADED as OVERLOADED
from .queue import Arque as Arque
from .queue import TaskId as TaskId
from .records import DeadLetter as DeadLetter
from .records import DeadReason as DeadReason
from .records import QueueStats as QueueStats
from .schedules import Schedule as Schedule
from .scheduling import PRIORITY_MAX as PRIORITY_MAX
from .scheduling import PRIORITY_MIN as PRIORITY_MIN
from .scheduling import GroupStats as GroupStats
from .serializers import JSON as JSON
from .serializers import MsgPack as MsgPack
from .serializers import Serializer as Serializer
from .settings import QueueSettings as QueueSettings
from .worker import Backoff as Backoff
from .worker import Fail as Fail
from .worker import Health as Health
from .worker import Retry as Retry
from .worker import TaskContext as TaskContext
from .worker import Worker as Worker
from .worker import WorkerSignal as WorkerSignal
from .worker import WorkerStats as WorkerStats

__version__ = "2.0.0.dev0"

__all__ = [
    "JSON",
    "MARKED_AS_FAILED",
    "NOT_FOUND",
    "OVERLOADED",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "Arque",
    "ArqueError",
    "Backoff",
    "DeadLetter",
    "DeadReason",
    "Durability",
    "Fail",
    "FailedPage",
    "GroupStats",
    "Health",
    "InvalidArgument",
    "MissingDependency",
    "MsgPack",
    "NotDurable",
    "PayloadTooLarge",
    "PermissionDenied",
    "QueueKeys",
    "QueueSettings",
    "QueueStats",
    "RedisUnavailable",
    "ResultNotFound",
    "ResultTimeout",
    "Retry",
    "Schedule",
    "SerializationError",
    "Serializer",
    "ServerError",
    "ServerUnavailable",
    "TaskContext",
    "TaskFailed",
    "TaskId",
    "Worker",
    "WorkerFailed",
    "WorkerSignal",
    "WorkerStats",
    "WrongKeyType",
]

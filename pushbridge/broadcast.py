"""Model auto-push: saves and deletes of registered models become events after commit.

::

    @pushbridge.broadcasts("room-{room_id}", events={"created": "show-message"},
                           payload=["id", "text", "author.username"], to_others=True)
    class Message(models.Model):
        ...

    pushbridge.broadcasts()(SomeThirdPartyModel)   # convention: see broadcasts()

Events leave only after the transaction commits (``transaction.on_commit``): a rollback sends
nothing, and several saves of one row in one transaction become one event carrying the final
state (a row created and then updated is announced once, as created; one created and deleted
in the same transaction is never announced). Saves inside a savepoint that rolls back are
forgotten with it. ``with pushbridge.muted():`` suppresses everything; fixture loading
(``raw`` saves) never pushes.

The event is built and validated at save time, so a bad channel format or an oversize payload
raises where the save happened, not later on the commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from pushbridge import dispatch
from pushbridge.backends import get_backend
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.errors import ConfigurationError
from pushbridge.events import Event
from pushbridge.sockets import current_socket_id

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
OPERATIONS = (CREATED, UPDATED, DELETED)

ModelT = TypeVar("ModelT", bound=type[models.Model])
ChannelSpec = str | Callable[[models.Model], str | Sequence[str]]
Payload = Sequence[str] | Callable[[models.Model, str], Any]


class _InstanceFields(Mapping[str, Any]):
    """Lets ``"room-{room_id}"`` or ``"user-{author.pk}"`` format over an instance."""

    def __init__(self, instance: models.Model) -> None:
        self.instance = instance

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self.instance, name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Any:  # pragma: no cover - format_map only looks keys up
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0


def _attribute(instance: models.Model, path: str) -> Any:
    value: Any = instance
    for part in path.split("."):
        value = getattr(value, part)
    return value


def default_payload(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete fields by attribute name (``author_id`` for a foreign key)."""
    data: dict[str, Any] = {}
    for model_field in instance._meta.concrete_fields:
        if isinstance(model_field, models.BinaryField):
            continue
        value = model_field.value_from_object(instance)
        if isinstance(model_field, models.FileField):
            value = value.name or None
        data[model_field.attname] = value
    return data


@dataclass(frozen=True, eq=False)
class Broadcast:
    """One registration of a model: where, what and when its changes are pushed."""

    model: type[models.Model]
    channels: tuple[ChannelSpec, ...]
    events: Mapping[str, str]
    payload: Payload | None = None
    when: Callable[[models.Model, str], bool] | None = None
    to_others: bool = False
    using: str = DEFAULT_ALIAS

    def channel_names(self, instance: models.Model) -> list[str]:
        names: list[str] = []
        for spec in self.channels:
            if callable(spec):
                produced = spec(instance)
                names.extend([produced] if isinstance(produced, str) else produced)
            else:
                try:
                    names.append(spec.format_map(_InstanceFields(instance)))
                except KeyError as exc:
                    raise ConfigurationError(
                        f"Channel format {spec!r} of {self.model._meta.label} names {exc.args[0]!r}, "
                        "which the instance does not have."
                    ) from None
        return names

    def data(self, instance: models.Model, operation: str) -> Any:
        if self.payload is None:
            return default_payload(instance)
        if callable(self.payload):
            return self.payload(instance, operation)
        return {name: _attribute(instance, name) for name in self.payload}

    def event(self, instance: models.Model, operation: str) -> Event | None:
        """The event for this save, checked against the backend's limits; None if not pushed.

        An update of a registration that pushes only creations still makes an event: if the
        row was created in the same transaction, its final state is what "created" carries.
        """
        name = self.events.get(operation) or (self.events.get(CREATED) if operation == UPDATED else None)
        if name is None or (self.when is not None and not self.when(instance, operation)):
            return None
        socket_id = current_socket_id() if self.to_others else None
        event = Event(self.channel_names(instance), name, self.data(instance, operation), socket_id=socket_id)
        return event.check(get_backend(self.using).limits)

    def records(self, operation: str) -> bool:
        """Whether a save of this kind can matter to what is pushed at commit.

        Deletes always do (a row created and deleted in one transaction is never announced);
        updates do when updates or creations are pushed; creations when they are pushed.
        """
        if operation == DELETED:
            return True
        return operation in self.events or (operation == UPDATED and CREATED in self.events)


#: model -> its registrations (a model may be registered more than once).
registry: dict[type[models.Model], list[Broadcast]] = {}


def broadcasts(
    channels: ChannelSpec | Sequence[ChannelSpec] | type[models.Model] | None = None,
    *,
    events: Mapping[str, str] | None = None,
    payload: Payload | None = None,
    when: Callable[[models.Model, str], bool] | None = None,
    to_others: bool = False,
    using: str = DEFAULT_ALIAS,
) -> Any:
    """Register a model for auto-push; use as a class decorator or call on any model.

    ``channels``: a channel name, a format string over the instance (``"room-{room_id}"``,
    ``"user-{owner.pk}"``), a callable returning a name or names, or a list of these.
    Default: ``private-<app_label>.<model_name>`` and ``private-<app_label>.<model_name>.<pk>``
    (private, so that nothing is public until an authorization callback allows it).

    ``events``: operation -> event name for the operations to push, among ``created``,
    ``updated``, ``deleted``. Default: all three, named ``<model_name>.created`` etc.

    ``payload``: field names (dotted paths allowed: ``"author.username"``) or a callable
    ``(instance, operation) -> data``. Default: every concrete field, by attribute name.

    ``when``: ``(instance, operation) -> bool``; evaluated on the final state of the row.
    ``to_others``: exclude the browser that made the current request (``X-Socket-ID``).
    ``using``: the ``PUSHBRIDGE`` alias to send through.
    """
    if isinstance(channels, type) and issubclass(channels, models.Model):
        return broadcasts()(channels)  # bare @broadcasts

    def register(model: ModelT) -> ModelT:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise ConfigurationError(f"broadcasts() applies to Django model classes, not {model!r}.")
        if model._meta.abstract:
            raise ConfigurationError(f"broadcasts() cannot register abstract model {model.__name__}.")
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        specs: tuple[ChannelSpec, ...]
        if channels is None:
            specs = (f"private-{label}", f"private-{label}.{{pk}}")
        elif isinstance(channels, str) or callable(channels):
            specs = (channels,)  # type: ignore[assignment]
        else:
            specs = tuple(channels)
        names = dict(events) if events is not None else {op: f"{model._meta.model_name}.{op}" for op in OPERATIONS}
        unknown = sorted(set(names) - set(OPERATIONS))
        if unknown:
            raise ConfigurationError(
                f"broadcasts(events=...) of {model.__name__} names unknown operation(s) {unknown}; "
                f"use {', '.join(OPERATIONS)}."
            )
        registry.setdefault(model, []).append(
            Broadcast(model, specs, names, payload=payload, when=when, to_others=to_others, using=using)
        )
        _connect()
        return model

    return register


def registrations_for(model: type[models.Model]) -> list[Broadcast]:
    """Registrations that apply to ``model``: its own, and those of its parents and proxied model."""
    if not registry:
        return []
    found = list(registry.get(model, ()))
    for parent in model._meta.get_parent_list():
        found.extend(registry.get(parent, ()))
    concrete = model._meta.concrete_model
    if concrete is not None and concrete is not model and concrete not in model._meta.get_parent_list():
        found.extend(registry.get(concrete, ()))
    return found


# -- coalescing per transaction ------------------------------------------------------------------


@dataclass(eq=False)
class _Pending:
    """One save or delete of one row, waiting for its transaction to commit."""

    operation: str
    event: Event | None
    savepoints: frozenset[str]
    broadcast: Broadcast = field(repr=False)


_state = threading.local()  # DB connections are per thread, and so is what waits on them


def _pending(db_alias: str) -> dict[tuple[int, str, Any], list[_Pending]]:
    tables: dict[str, dict[tuple[int, str, Any], list[_Pending]]] = _state.__dict__.setdefault("tables", {})
    return tables.setdefault(db_alias, {})


def _record(instance: models.Model, operation: str, db_alias: str) -> None:
    if dispatch.is_muted():
        return
    registrations = registrations_for(type(instance))
    if not registrations:
        return
    connection = transaction.get_connection(db_alias)
    table = _pending(db_alias)
    if table and not connection.run_on_commit:
        # No callback of ours can still run: what is left came from transactions (or
        # savepoints) that rolled back. Forget it, so a long-lived thread holds nothing.
        table.clear()
    for registration in registrations:
        if not registration.records(operation):
            continue
        key = (id(registration), instance._meta.label, instance.pk)
        # None marks an atomic block without a savepoint (such as the one Model.delete() opens).
        savepoints = frozenset(sid for sid in connection.savepoint_ids if sid)
        entry = _Pending(operation, registration.event(instance, operation), savepoints, registration)
        table.setdefault(key, []).append(entry)
        transaction.on_commit(partial(_committed, db_alias, key, entry), using=db_alias)


def _committed(db_alias: str, key: tuple[int, str, Any], entry: _Pending) -> None:
    """Send the final state of one row once its transaction has committed.

    Django runs a callback only if none of the savepoints it was registered in rolled back,
    and runs survivors in order. So the first callback to run for a row knows that every
    earlier save of that row was rolled back, and that every later save made in no savepoint
    of its own (beyond those this one lived in) will also survive: the last of those holds
    the final state. Later saves in other savepoints may or may not have survived; if they
    did, their own callbacks send again with the newer state.
    """
    table = _pending(db_alias)
    entries = table.get(key)
    if not entries or entry not in entries:
        return  # an earlier callback already sent the state this save contributed to
    start = entries.index(entry)
    survivors = [entry] + [later for later in entries[start + 1 :] if later.savepoints <= entry.savepoints]
    final = survivors[-1]
    del entries[: entries.index(final) + 1]
    if not entries:
        del table[key]
    operation = _merged_operation([s.operation for s in survivors])
    if operation is None or final.event is None:
        return
    event = final.event
    name = final.broadcast.events.get(operation)
    if name is None:
        return
    if name != event.name:
        event = Event(event.channels, name, event.data, socket_id=event.socket_id)
    dispatch.send(event, get_backend(final.broadcast.using))


def _merged_operation(operations: Iterable[str]) -> str | None:
    """What the outside world saw of a row's changes in one transaction (None: nothing)."""
    ops = list(operations)
    if ops[-1] == DELETED:
        return None if CREATED in ops else DELETED
    return CREATED if CREATED in ops else UPDATED


# -- signal hooks --------------------------------------------------------------------------------

_connected = False


def _on_save(sender: Any, instance: models.Model, created: bool, raw: bool, using: str, **kwargs: Any) -> None:
    if not raw:
        _record(instance, CREATED if created else UPDATED, using)


def _on_delete(sender: Any, instance: models.Model, using: str, **kwargs: Any) -> None:
    _record(instance, DELETED, using)


def _connect() -> None:
    global _connected
    if not _connected:
        post_save.connect(_on_save, dispatch_uid="pushbridge.broadcast.save")
        post_delete.connect(_on_delete, dispatch_uid="pushbridge.broadcast.delete")
        _connected = True

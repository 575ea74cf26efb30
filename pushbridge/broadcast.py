"""Model auto-push: saves and deletes of registered models become events after commit.

::

    @pushbridge.broadcasts("room-{room_id}", events={"created": "show-message"},
                           payload=["id", "text", "author.username"], to_others=True)
    class Message(models.Model):
        ...

    pushbridge.broadcasts(payload=["id", "number"])(SomeThirdPartyModel)   # see broadcasts()

Events leave only after the transaction commits (``transaction.on_commit``): a rollback sends
nothing, and several saves of one row in one transaction become one event carrying the final
state (a row created and then updated is announced once, as created; one created and deleted
in the same transaction is never announced). Saves inside a savepoint that rolls back are
forgotten with it; saves inside a nested ``atomic()`` that is released count like any other.
A row is one row whatever class saved it: a child of a registered model (multi-table
inheritance) and a proxy share the parent's registration, and deleting a child (which deletes
its parent row too) is announced once. ``with pushbridge.muted():`` suppresses everything;
fixture loading (``raw`` saves) never pushes.

Only what sends Django's ``post_save`` / ``post_delete`` signals is seen: ``bulk_create()``,
``QuerySet.update()``, ``bulk_update()`` and raw SQL push nothing. (``QuerySet.delete()`` does
push: it loads the rows of a registered model to send their signals. Models that are not
registered keep Django's fast delete, because the signals are connected per model.)

The event is built and validated at save time, so a bad channel format, a missing payload
field or an oversize payload raises where the save happened, not later on the commit. So
``payload`` and ``when`` are called with the operation of the save that made the event: for a
row created and then updated in one transaction, the "created" event carries the data computed
on its last save, whose operation was "updated". A send that fails after the commit (the
service is down) never raises into the code that committed: it is logged on the
``pushbridge.broadcast`` logger and announced by :data:`pushbridge.signals.dispatch_failed`.

How coalescing works: each save makes one pending entry, and its ``on_commit`` callback holds
the only strong reference to it; the per-thread pending table refers to entries weakly. Django
drops the callbacks of a transaction or savepoint that rolls back, and with them (through
CPython's reference counting, at once) their entries; so when the first callback of a row
runs, the entries of that row still alive are exactly the saves that survived, the last one
being the final state. No savepoint bookkeeping is needed, and nothing is left behind after a
commit or a rollback. (On an interpreter without reference counting, such as PyPy, a
rolled-back save could still count until the garbage collector runs.)
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.db.models.signals import class_prepared, post_delete, post_save

from pushbridge import dispatch
from pushbridge.backends import get_backend
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.errors import ConfigurationError, PushbridgeError
from pushbridge.events import Event
from pushbridge.signals import dispatch_failed, events_coalesced
from pushbridge.sockets import current_socket_id

logger = logging.getLogger("pushbridge.broadcast")

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
OPERATIONS = (CREATED, UPDATED, DELETED)

#: Fields never in the default payload, whatever model they belong to.
SECRET_FIELDS = frozenset({"password"})

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
    """Follow a dotted payload path; a relation that is empty (None, no such row) gives None.

    A name the object does not have is a mistake in the registration, so it is reported as
    one, naming the path and the model, rather than as a bare AttributeError from a save.
    """
    value: Any = instance
    for part in path.split("."):
        if value is None:
            return None
        try:
            value = getattr(value, part)
        except ObjectDoesNotExist:  # a reverse one-to-one with no row, before AttributeError
            return None
        except AttributeError as exc:
            raise ConfigurationError(
                f"Payload field {path!r} of {instance._meta.label} names {part!r}, "
                f"which {type(value).__name__} does not have."
            ) from exc
    return value


def default_payload(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete fields by attribute name (``author_id`` for a foreign key).

    Binary fields are left out (not JSON), and so are fields named ``password``: registering a
    model you do not own (``django.contrib.auth``'s User) must not push password hashes. For
    models you do not own, pass ``payload=`` anyway: their fields are not yours to publish.
    """
    data: dict[str, Any] = {}
    for model_field in instance._meta.concrete_fields:
        if isinstance(model_field, models.BinaryField) or model_field.name in SECRET_FIELDS:
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
                except AttributeError as exc:  # "{author.nope}": str.format follows the dot itself
                    raise ConfigurationError(
                        f"Channel format {spec!r} of {self.model._meta.label} cannot be filled in: {exc}."
                    ) from exc
        return names

    def data(self, instance: models.Model, operation: str) -> Any:
        if self.payload is None:
            return default_payload(instance)
        if callable(self.payload):
            return self.payload(instance, operation)
        return {name: _attribute(instance, name) for name in self.payload}

    def event(self, instance: models.Model, operation: str) -> Event | None:
        """The event for this save, checked by the backend (limits, encryption); None if not pushed.

        An update of a registration that pushes only creations still makes an event: if the
        row was created in the same transaction, its final state is what "created" carries.
        """
        name = self.events.get(operation) or (self.events.get(CREATED) if operation == UPDATED else None)
        if name is None or (self.when is not None and not self.when(instance, operation)):
            return None
        socket_id = current_socket_id() if self.to_others else None
        event = Event(self.channel_names(instance), name, self.data(instance, operation), socket_id=socket_id)
        return get_backend(self.using).check(event)

    def records(self, operation: str) -> bool:
        """Whether a save of this kind can matter to what is pushed at commit.

        Creations and deletes always do: a row created and deleted in one transaction is never
        announced, and one created then updated is not an update, whatever is pushed. Updates
        do when updates or creations are pushed.
        """
        if operation in (CREATED, DELETED):
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

    The registration covers the model's subclasses (multi-table inheritance) and proxies,
    those that exist already and those defined later.

    ``channels``: a channel name, a format string over the instance (``"room-{room_id}"``,
    ``"user-{owner.pk}"``), a callable returning a name or names, or a list of these.
    Default: ``private-<app_label>.<model_name>`` and ``private-<app_label>.<model_name>.<pk>``
    (private, so that nothing is public until an authorization callback allows it).

    ``events``: operation -> event name for the operations to push, among ``created``,
    ``updated``, ``deleted``. Default: all three, named ``<model_name>.created`` etc.

    ``payload``: field names (dotted paths allowed: ``"author.username"``; an empty relation
    on the way gives None) or a callable ``(instance, operation) -> data``. Default: every
    concrete field by attribute name, except binary fields and fields named ``password``. For
    models you do not own, pass ``payload=``: their other fields may be just as private.

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
        _connect(model)
        return model

    return register


def registrations_for(model: type[models.Model]) -> list[Broadcast]:
    """Registrations that apply to ``model``: its own, and those of its parents and proxied model.

    Those are the registered classes among its bases: a proxy and a multi-table child both
    inherit from the model they stand for, and an abstract base cannot be registered.
    """
    if not registry:
        return []
    found: list[Broadcast] = []
    for cls in model.__mro__:
        found.extend(registry.get(cls, ()))
    return found


# -- coalescing per transaction ------------------------------------------------------------------


@dataclass(eq=False)
class _Pending:
    """One save or delete of one row, waiting for its transaction to commit.

    Alive only as long as its on_commit callback is: the pending table refers to it weakly.
    """

    operation: str
    event: Event | None
    broadcast: Broadcast = field(repr=False)
    #: Stored mode only (durable dispatch, or an alias with HISTORY): the row's final event
    #: so far and the table rows written for it in this transaction.
    final_event: Event | None = None
    rows: list[Any] = field(default_factory=list, repr=False)
    stored: bool = False


#: (registration, primary key): one row as a registration sees it, whichever class saved it.
_Key = tuple[Broadcast, Any]
_Table = dict[_Key, list["weakref.ref[_Pending]"]]

_state = threading.local()  # DB connections are per thread, and so is what waits on them


def _pending(db_alias: str) -> _Table:
    """This thread's pending table for one database: row -> weak references to its entries, in order."""
    tables: dict[str, _Table] = _state.__dict__.setdefault("tables", {})
    return tables.setdefault(db_alias, {})


def _forget(table: _Table, key: _Key, ref: weakref.ref[_Pending]) -> None:
    """Weak-reference callback: an entry died (its save rolled back, or it was sent)."""
    refs = table.get(key)
    if refs is None:
        return
    try:
        refs.remove(ref)  # a dead reference equals only itself
    except ValueError:
        return  # already taken off by the callback that sent it
    if not refs:
        del table[key]


def _record(instance: models.Model, operation: str, db_alias: str) -> None:
    if dispatch.is_muted():
        return
    registrations = registrations_for(type(instance))
    if not registrations:
        return
    # Every event first: if one raises, no entry exists yet that a traceback could keep alive
    # (an entry kept alive past its rollback would pass for a surviving save).
    made = [(r, r.event(instance, operation)) for r in registrations if r.records(operation)]
    for registration, event in made:
        key = (registration, instance.pk)
        entry = _Pending(operation, event, registration)
        if _stores(registration):
            _store_final_state(db_alias, key, entry)
        _enqueue(db_alias, key, entry)


def _stores(registration: Broadcast) -> bool:
    """Whether the registration's events are written to pushbridge's table at save time."""
    config = get_backend(registration.using).config
    return config.dispatch == dispatch.DURABLE or bool(config.history_channels)


def _store_final_state(db_alias: str, key: _Key, entry: _Pending) -> None:
    """Write the row's final state so far, replacing what earlier saves of this transaction wrote.

    The earlier saves still alive are those of this transaction that did not roll back (see
    the module docstring); their rows were written in the same transaction, so deleting and
    rewriting them here is undone by a rollback together with this save, and the rows left at
    commit are exactly one event per row with its final state.
    """
    from pushbridge.dispatch import durable

    alive = [pending for ref in _pending(db_alias).get(key, []) if (pending := ref()) is not None]
    survivors = [*alive, entry]
    entry.stored = True
    previous = alive[-1].rows if alive else []
    operation = _merged_operation([s.operation for s in survivors])
    final = _final_entry(survivors)
    event = None
    if operation is not None and final.event is not None:
        name = final.broadcast.events.get(operation)
        if name is not None:
            event = final.event
            if name != event.name:
                event = Event(event.channels, name, event.data, socket_id=event.socket_id)
    backend = get_backend(entry.broadcast.using)
    entry.final_event = event
    if previous and event is not None and (rewritten := durable.rewrite_rows(previous, event, backend)):
        entry.rows = rewritten
        return
    durable.delete_rows(previous)
    entry.rows = durable.write_rows(event, backend) if event is not None else []


def _enqueue(db_alias: str, key: _Key, entry: _Pending) -> None:
    table = _pending(db_alias)
    ref = weakref.ref(entry, partial(_forget, table, key))
    table.setdefault(key, []).append(ref)

    def send_final_state() -> None:  # holds the only strong reference to the entry
        _committed(db_alias, key, entry)

    send_final_state.__qualname__ = f"pushbridge.broadcast[{entry.broadcast.model._meta.label}]"
    try:
        # robust: a failure, even one that is not ours, never stops other apps' callbacks.
        transaction.on_commit(send_final_state, using=db_alias, robust=True)
    except BaseException:
        _forget(table, key, ref)
        raise


def _committed(db_alias: str, key: _Key, entry: _Pending) -> None:
    """Send the final state of one row once its transaction has committed.

    The entries of the row still alive are the saves whose callbacks Django still holds,
    since those of rolled-back savepoints are dropped. The first to run takes them all:

    * later ones: Django runs a committed transaction's callbacks from a list it holds while
      it runs them, so they are saves of this transaction (or of one committed by an earlier
      callback) that survived; the last alive is the final state.
    * earlier ones are normally gone (they ran first). One is alive only when a callback of
      the committed transaction saved the row before this entry's own callback ran: that save
      runs its callback at once, and the earlier entry is a survivor too. But inside an open
      atomic block (a test running callbacks without a commit, as TestCase and
      ``captureOnCommitCallbacks`` do), earlier entries belong to the uncommitted transaction
      and are left alone.

    The entries taken are removed from the table, so that their own callbacks do nothing.
    """
    refs = _pending(db_alias).get(key)
    if not refs:
        return
    alive = [(ref, pending) for ref in refs if (pending := ref()) is not None]
    position = next((index for index, (_, pending) in enumerate(alive) if pending is entry), None)
    if position is None:
        return  # an earlier callback already sent the state this save contributed to
    if transaction.get_connection(db_alias).in_atomic_block:
        alive = alive[position:]
    for ref, _ in alive:
        refs.remove(ref)
    if not refs:
        _pending(db_alias).pop(key, None)
    survivors = [pending for _, pending in alive]
    operation = _merged_operation([s.operation for s in survivors])
    if len(survivors) > 1:
        _announce_coalesced(key, survivors, operation)
    if survivors[-1].stored:
        _send_stored(survivors[-1])
        return
    if operation is None:
        return
    final = _final_entry(survivors)
    if final.event is None:
        return
    alias = final.broadcast.using
    event = final.event
    try:
        name = final.broadcast.events.get(operation)
        if name is None:
            return
        if name != event.name:
            event = Event(event.channels, name, event.data, socket_id=event.socket_id)
        dispatch.send(event, get_backend(alias), on_commit=False)
    except PushbridgeError as exc:
        # The data is committed: raising would break the request after the fact.
        logger.error("Auto-push of %s %s to %s failed: %s", key[0].model._meta.label, operation, alias, exc)
        dispatch_failed.send_robust(sender=alias, events=[event], error=exc, dropped=False)


def _send_stored(final: _Pending) -> None:
    """After the commit, for a row whose state was stored: durable mode leaves it to the relay
    (woken by the commit); other modes send it now, history channels wrapped with their position."""
    backend = get_backend(final.broadcast.using)
    if final.final_event is None or backend.config.dispatch == dispatch.DURABLE:
        return
    from pushbridge.dispatch import durable

    events = durable.committed_wire_events(final.final_event, final.rows, backend)
    try:
        dispatch.deliver(events, backend)
    except PushbridgeError as exc:
        logger.error("Auto-push to %s failed: %s", backend.alias, exc)
        dispatch_failed.send_robust(sender=backend.alias, events=events, error=exc, dropped=False)


def _announce_coalesced(key: _Key, survivors: list[_Pending], operation: str | None) -> None:
    """Tell whoever listens (the test kit) which saves became one event, and which event."""
    if not events_coalesced.receivers:
        return
    events = key[0].events
    final = _final_entry(survivors).event
    events_coalesced.send_robust(
        sender=key[0].model,
        pk=key[1],
        operations=[s.operation for s in survivors],
        would_have_sent=[events.get(s.operation) for s in survivors],
        sent=None if operation is None else events.get(operation),
        channels=list(final.channels) if final is not None else [],
    )


def _final_entry(survivors: list[_Pending]) -> _Pending:
    """The entry whose event announces the row: the last one, or the first of the final deletes.

    Deleting a multi-table child deletes its parent row too, the child first: both are the
    same row here, and the child's event carries more.
    """
    final = len(survivors) - 1
    while final > 0 and survivors[final].operation == DELETED and survivors[final - 1].operation == DELETED:
        final -= 1
    return survivors[final]


def _merged_operation(operations: Iterable[str]) -> str | None:
    """What the outside world saw of a row's changes in one transaction (None: nothing)."""
    ops = list(operations)
    if ops[-1] == DELETED:
        return None if ops[0] == CREATED else DELETED
    return CREATED if CREATED in ops else UPDATED


# -- signal hooks --------------------------------------------------------------------------------

# Connected per sender: a receiver for every model would make post_delete.has_listeners() true
# for all of them, and Django would load every row of every QuerySet.delete() to send signals.
_SAVE_UID = "pushbridge.broadcast.save"
_DELETE_UID = "pushbridge.broadcast.delete"
_PREPARED_UID = "pushbridge.broadcast.class_prepared"


def _on_save(sender: Any, instance: models.Model, created: bool, raw: bool, using: str, **kwargs: Any) -> None:
    if not raw:
        _record(instance, CREATED if created else UPDATED, using)


def _on_delete(sender: Any, instance: models.Model, using: str, **kwargs: Any) -> None:
    _record(instance, DELETED, using)


def _on_class_prepared(sender: type[models.Model], **kwargs: Any) -> None:
    """A subclass or proxy of a registered model defined after the registration."""
    if registrations_for(sender):
        _connect_sender(sender)


def _connect_sender(model: type[models.Model]) -> None:
    post_save.connect(_on_save, sender=model, dispatch_uid=_SAVE_UID)
    post_delete.connect(_on_delete, sender=model, dispatch_uid=_DELETE_UID)


def _connect(model: type[models.Model]) -> None:
    """Connect the signals of ``model`` and of every subclass and proxy of it, now and later."""
    class_prepared.connect(_on_class_prepared, dispatch_uid=_PREPARED_UID)
    family = [model]
    for cls in family:  # grows while walked: subclasses of subclasses
        family.extend(sub for sub in cls.__subclasses__() if sub not in family)
    for cls in family:
        _connect_sender(cls)

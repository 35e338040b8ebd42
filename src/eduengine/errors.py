"""Every error eduengine raises, rooted at :class:`EduEngineError`.

Domain errors mean "the command was refused and nothing changed"; persistence errors mean
the storage could not complete a unit of work, whose writes were rolled back. Where it is
true an error also subclasses the matching built-in, so ``except ValueError`` keeps working.

**Commands that move money run in steps** (file the payment intent and commit; call the
provider; confirm in a second unit of work), and only the failing step is undone. An
error raised after the provider charged (a persistence error while confirming) leaves
the charge taken and its intent open: ``school.payments.reconcile()`` (or the same
command again) confirms it or refunds it; nothing is charged twice. What a quote could
have found (an amount out of range) is refused before any charge.

>>> from eduengine.errors import EduEngineError, SlotFull
>>> issubclass(SlotFull, EduEngineError)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


def _rebuild(cls: type[EduEngineError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class EduEngineError(Exception):
    """Root of every error raised by eduengine."""

    #: a stable, machine-readable name: clients match on it, never on the message
    code: ClassVar[str] = "eduengine_error"
    #: the HTTP status a web host should answer with (see :func:`problem_details`)
    http_status: ClassVar[int] = 500

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors carry ids as attributes and take them in __init__, which the default
        # pickling (cls(*args)) cannot rebuild; keep them picklable across processes.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


# --- domain ---------------------------------------------------------------------------


class DomainError(EduEngineError):
    """A command was refused by a business rule; the state is unchanged (raised after a
    provider moved money, e.g. a checkout whose order was closed meanwhile, the error
    says what was filed to put it right: the refund under way)."""

    code = "domain_error"
    http_status = 400


class InvalidInput(DomainError, ValueError):
    """An argument is malformed (wrong type, out of range)."""

    code = "invalid_input"
    http_status = 422


class NaiveDatetime(InvalidInput):
    """A datetime without a time zone was given where an aware one is required."""

    code = "naive_datetime"

    def __init__(self, name: str, value: object) -> None:
        super().__init__(f"{name} must be timezone-aware, got naive datetime {value!r}")
        self.name = name


class InvalidId(InvalidInput):
    """An id (or a piece of free text) is empty, too long, or holds NUL, control
    characters or lone surrogates (see :mod:`eduengine.kernel.inputs` for the rule)."""

    code = "invalid_id"

    def __init__(self, message: str, *, field: str = "id") -> None:
        super().__init__(message)
        self.field = field


class WrongType(InvalidInput, TypeError):
    """An argument has the wrong type (a list where an id belongs, ``None`` or a float
    where a duration or an integer belongs)."""

    code = "wrong_type"

    def __init__(self, message: str, *, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


class OutOfRange(InvalidInput):
    """A number, instant or duration is outside the documented bounds (see
    :mod:`eduengine.kernel.inputs`)."""

    code = "out_of_range"

    def __init__(self, message: str, *, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


class InvalidEvent(InvalidInput):
    """A JSON event or envelope does not match the published event contract."""

    code = "invalid_event"


class FeedUnavailable(InvalidInput):
    """The store object keeps no event feed: a host's own adapter without ``read_feed``.

    Deprecated: every store of the library keeps the feed (it is always on), so this is
    no longer raised for one of them; kept so ``except FeedUnavailable`` still imports.
    """

    code = "feed_unavailable"
    http_status = 503


class FeedGap(EduEngineError):
    """A live subscription to ``stream`` expected event ``expected`` next but the feed
    brought ``got``: the events between were missed (pruned from the feed, or the
    subscriber was dropped), so what the client shows is stale. Reload its snapshot.

    >>> print(FeedGap("slot:s1", 4, 6))
    live stream 'slot:s1' missed events 4 to 5 (next was 6): reload the snapshot
    """

    code = "feed_gap"
    http_status = 409

    def __init__(self, stream: str, expected: int, got: int) -> None:
        missed = f"event {expected}" if got == expected + 1 else f"events {expected} to {got - 1}"
        super().__init__(
            f"live stream {stream!r} missed {missed} (next was {got}): reload the snapshot"
        )
        self.stream = stream
        self.expected = expected
        self.got = got


class InvalidSignature(InvalidInput):
    """A webhook delivery's signature is missing, malformed, stale or wrong."""

    code = "invalid_signature"
    http_status = 400


class InvalidTimeRange(InvalidInput):
    """An interval ends before (or when) it starts, or a duration is not positive."""

    code = "invalid_time_range"


class InvalidCapacity(InvalidInput):
    """Capacity is not a non-negative integer."""

    code = "invalid_capacity"


class InvalidRecurrence(InvalidInput):
    """An RRULE cannot be parsed, is unbounded, or yields no session."""

    code = "invalid_recurrence"


class StartInRule(InvalidRecurrence):
    """The rule text carries its own ``DTSTART``: the start argument alone sets it."""

    code = "start_in_rule"


class NotFound(DomainError, LookupError):
    """An id names nothing."""

    code = "not_found"
    http_status = 404


class SlotNotFound(NotFound):
    code = "slot_not_found"

    def __init__(self, slot_id: str) -> None:
        super().__init__(f"slot {slot_id!r} not found")
        self.slot_id = slot_id


class SeriesNotFound(NotFound):
    code = "series_not_found"

    def __init__(self, series_id: str) -> None:
        super().__init__(f"series {series_id!r} not found")
        self.series_id = series_id


class BookingNotFound(NotFound):
    code = "booking_not_found"

    def __init__(self, booking_id: str) -> None:
        super().__init__(f"booking {booking_id!r} not found")
        self.booking_id = booking_id


class OfferNotFound(NotFound):
    code = "offer_not_found"

    def __init__(self, slot_id: str, student_id: str) -> None:
        super().__init__(f"student {student_id!r} holds no seat offer for slot {slot_id!r}")
        self.slot_id = slot_id
        self.student_id = student_id


class DuplicateId(DomainError, ValueError):
    """An object with this id already exists."""

    code = "duplicate_id"
    http_status = 409


class BookingRefused(DomainError):
    """A seat cannot be booked (or a waitlist joined) in the current state."""

    code = "booking_refused"
    http_status = 409


class SlotFull(BookingRefused):
    code = "slot_full"

    def __init__(self, slot_id: str, capacity: int) -> None:
        super().__init__(f"slot {slot_id!r} is full ({capacity} of {capacity} seats taken)")
        self.slot_id = slot_id
        self.capacity = capacity


class SeriesFull(SlotFull):
    """At least one session of a series is full; nothing was booked."""

    code = "series_full"

    def __init__(self, series_id: str, full_slot_ids: Sequence[str]) -> None:
        BookingRefused.__init__(
            self,
            f"series {series_id!r} cannot be booked: session(s) {', '.join(full_slot_ids)} full",
        )
        self.series_id = series_id
        self.full_slot_ids = tuple(full_slot_ids)
        self.slot_id = full_slot_ids[0]
        self.capacity = 0


class AlreadyBooked(BookingRefused):
    code = "already_booked"

    def __init__(self, slot_id: str, student_id: str) -> None:
        super().__init__(f"student {student_id!r} already holds a seat in slot {slot_id!r}")
        self.slot_id = slot_id
        self.student_id = student_id


class BookingClosed(BookingRefused):
    """The slot already started, was cancelled, or the booking can no longer change."""

    code = "booking_closed"

    def __init__(self, slot_id: str, reason: str) -> None:
        super().__init__(f"slot {slot_id!r} is closed for this: {reason}")
        self.slot_id = slot_id
        self.reason = reason


class BookingNotOpen(BookingRefused):
    """Rush booking: the slot opens for booking at ``opens_at``, not yet."""

    code = "booking_not_open"

    def __init__(self, slot_id: str, opens_at: object) -> None:
        super().__init__(f"slot {slot_id!r} opens for booking at {opens_at}, not yet")
        self.slot_id = slot_id
        self.opens_at = opens_at


class AlreadyWaiting(BookingRefused):
    code = "already_waiting"

    def __init__(self, slot_id: str, student_id: str) -> None:
        super().__init__(f"student {student_id!r} is already on the waitlist of slot {slot_id!r}")
        self.slot_id = slot_id
        self.student_id = student_id


class NotWaiting(BookingRefused):
    code = "not_waiting"

    def __init__(self, slot_id: str, student_id: str) -> None:
        super().__init__(f"student {student_id!r} is not on the waitlist of slot {slot_id!r}")
        self.slot_id = slot_id
        self.student_id = student_id


class SeatsAvailable(BookingRefused):
    """Joining a waitlist is refused while a seat can simply be booked."""

    code = "seats_available"

    def __init__(self, slot_id: str, seats_left: int) -> None:
        super().__init__(f"slot {slot_id!r} has {seats_left} seat(s) left: book instead")
        self.slot_id = slot_id
        self.seats_left = seats_left


class CapacityBelowBookings(DomainError, ValueError):
    code = "capacity_below_bookings"
    http_status = 409

    def __init__(self, slot_id: str, requested: int, taken: int) -> None:
        super().__init__(
            f"slot {slot_id!r}: capacity {requested} is below the {taken} seat(s) already taken"
        )
        self.slot_id = slot_id
        self.requested = requested
        self.taken = taken


class InvalidTransition(DomainError):
    """The object is not in a state that allows this command."""

    code = "invalid_transition"
    http_status = 409


# --- persistence ----------------------------------------------------------------------


class PersistenceError(EduEngineError):
    """The storage could not complete a unit of work; its writes were rolled back.

    A command of one unit of work wrote nothing. A command that called a payment
    provider had committed its earlier step: raised while confirming a charge, the
    money was taken and its intent stays open until ``school.payments.reconcile()`` (or
    the same command again) confirms the order or refunds it.
    """

    code = "persistence_error"
    http_status = 503


class ConcurrencyConflict(PersistenceError):
    """Another transaction changed the same data and retries were exhausted."""

    code = "concurrency_conflict"
    http_status = 409


class RetryableConflict(ConcurrencyConflict):
    """A transient conflict (deadlock, serialisation failure): running the whole command
    again may succeed. The service layer retries it a bounded number of times."""

    code = "retryable_conflict"
    http_status = 503


class LockTimeout(PersistenceError, TimeoutError):
    """A lock could not be taken in time."""

    code = "lock_timeout"
    http_status = 503


class SchemaError(PersistenceError):
    """The database schema is missing or newer than this library understands."""

    code = "schema_error"
    http_status = 500


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer eduengine than this process runs (after a
    downgrade, or while a fleet is half upgraded): upgrade eduengine here, do not
    migrate."""

    code = "schema_too_new"

    def __init__(self, message: str, *, found: int, supported: int) -> None:
        super().__init__(message)
        self.found = found
        self.supported = supported


class StoreClosed(PersistenceError):
    """The store was closed; make a new one to use the database again."""

    code = "store_closed"


class StoreNotFound(PersistenceError, FileNotFoundError):
    """The database cannot be opened where it was said to be (e.g. a SQLite file in a
    directory that does not exist)."""

    code = "store_not_found"


class InvalidSetting(InvalidInput):
    """A store or service setting is out of range or of the wrong type (a negative
    ``lock_timeout``, an unknown store URL scheme ...)."""

    code = "invalid_setting"


# --- money --------------------------------------------------------------------------


class InvalidMoney(InvalidInput):
    """A money amount is a float, not finite, out of range (more than 28 significant
    digits at its minor unit), negative where a price must not be, or has an unknown
    currency."""

    code = "invalid_money"


class CurrencyMismatch(InvalidMoney):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"


# --- policies -----------------------------------------------------------------------


class BookingRestricted(BookingRefused):
    """The student's booking rights are restricted after too many violations."""

    code = "booking_restricted"
    http_status = 403

    def __init__(self, student_id: str, reason: str) -> None:
        super().__init__(f"student {student_id!r} may not book now: {reason}")
        self.student_id = student_id
        self.reason = reason


class RescheduleRefused(BookingRefused):
    """A booking cannot be moved (outside the free window, or over the limit)."""

    code = "reschedule_refused"

    def __init__(self, booking_id: str, reason: str) -> None:
        super().__init__(f"booking {booking_id!r} cannot be rescheduled: {reason}")
        self.booking_id = booking_id
        self.reason = reason


# --- rush booking -------------------------------------------------------------------


class QueueError(BookingRefused):
    """A rush-booking queue command cannot be taken in its current state."""

    code = "queue_error"

    def __init__(self, slot_id: str, reason: str) -> None:
        super().__init__(f"rush queue of slot {slot_id!r}: {reason}")
        self.slot_id = slot_id
        self.reason = reason


class QueueNotFound(NotFound):
    code = "queue_not_found"

    def __init__(self, slot_id: str) -> None:
        super().__init__(f"slot {slot_id!r} has no rush queue")
        self.slot_id = slot_id


# --- 1-on-1 availability ------------------------------------------------------------


class TutorNotFound(NotFound):
    code = "tutor_not_found"

    def __init__(self, tutor_id: str) -> None:
        super().__init__(f"tutor {tutor_id!r} has no schedule")
        self.tutor_id = tutor_id


class OverlappingRanges(InvalidInput):
    """Working hours or date overrides overlap each other."""

    code = "overlapping_ranges"


class TimeNotAvailable(BookingRefused):
    """The tutor is not free at (all of) the requested time(s)."""

    code = "time_not_available"

    def __init__(self, tutor_id: str, starts: Sequence[object]) -> None:
        listed = ", ".join(str(s) for s in starts)
        super().__init__(f"tutor {tutor_id!r} is not available at {listed}")
        self.tutor_id = tutor_id
        self.starts = tuple(starts)


# --- payments and group deals ------------------------------------------------------


class PaymentFailed(EduEngineError):
    """The payment provider refused a charge or refund: that call moved no money (an
    answer that was lost, where money may have moved, is :class:`PaymentOutcomeUnknown`).
    What the command had filed before the call is closed with it (a declined checkout
    releases its coupons; a refused refund stays due and is retried)."""

    code = "payment_failed"
    http_status = 402


class PaymentOutcomeUnknown(EduEngineError):
    """The provider's answer about a charge or refund was lost (a timeout, a dropped
    connection): the money may or may not have moved.

    Not a :class:`PaymentFailed`: treating it as a decline is how a student ends up
    charged with nothing to show for it. The intent stays pending under ``key``; run the
    same command again (same order id, same group) or let
    :meth:`eduengine.payments.service.PaymentService.reconcile` settle it.
    """

    code = "payment_outcome_unknown"
    http_status = 504

    def __init__(
        self,
        key: str,
        detail: str = "",
        *,
        group_id: str | None = None,
        order_id: str | None = None,
        booking_id: str | None = None,
    ) -> None:
        more = f": {detail}" if detail else ""
        super().__init__(
            f"payment {key!r}: outcome unknown{more}; retry the same command or reconcile"
        )
        self.key = key
        #: what went wrong, without the key and the advice (a wrapper quotes this, so
        #: the message never repeats itself)
        self.detail = detail
        #: the group, order or booking whose payment it is (``None`` where not relevant):
        #: a client whose ``open_group`` timed out learns its group here
        self.group_id = group_id
        self.order_id = order_id
        self.booking_id = booking_id

    @staticmethod
    def reason(exc: BaseException) -> str:
        """What ``exc`` says went wrong, for the detail of a wrapping
        ``PaymentOutcomeUnknown``: a gateway's own ``PaymentOutcomeUnknown`` gives its
        detail, not its whole message (which would repeat the key and the advice).

        >>> PaymentOutcomeUnknown.reason(PaymentOutcomeUnknown("k", "timed out"))
        'timed out'
        """
        if isinstance(exc, PaymentOutcomeUnknown):
            return getattr(exc, "detail", "") or str(exc)
        return str(exc)


class CampaignNotFound(NotFound):
    code = "campaign_not_found"

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"group-deal campaign {campaign_id!r} not found")
        self.campaign_id = campaign_id


class GroupNotFound(NotFound):
    code = "group_not_found"

    def __init__(self, group_id: str) -> None:
        super().__init__(f"group {group_id!r} not found")
        self.group_id = group_id


class ShareLinkNotFound(NotFound):
    """No share link has this token (mistyped, or made up)."""

    code = "share_link_not_found"

    def __init__(self, token: str) -> None:
        super().__init__(f"share link {token!r} not found")
        self.token = token


class GroupClosed(BookingRefused):
    """The group is no longer open for joining (formed, failed, cancelled, past deadline)."""

    code = "group_closed"

    def __init__(self, group_id: str, reason: str) -> None:
        super().__init__(f"group {group_id!r} cannot be joined: {reason}")
        self.group_id = group_id
        self.reason = reason


class GroupFull(BookingRefused):
    code = "group_full"

    def __init__(self, group_id: str, size: int) -> None:
        super().__init__(f"group {group_id!r} is full ({size} members)")
        self.group_id = group_id
        self.size = size


class DealLimitReached(BookingRefused):
    """A per-student limit of the campaign (groups opened, joined, one open group)."""

    code = "deal_limit_reached"
    http_status = 409


class AbuseSuspected(BookingRefused):
    """A risk rule denied the request; the decision was recorded."""

    code = "abuse_suspected"
    http_status = 403

    def __init__(self, student_id: str, reasons: Sequence[str]) -> None:
        super().__init__(f"request of student {student_id!r} denied: {'; '.join(reasons)}")
        self.student_id = student_id
        self.reasons = tuple(reasons)


class ShareCodeUnavailable(DomainError, RuntimeError):
    """Every share code drawn for a new group was taken: the code source is broken (a
    random code collides about never), so opening the group is refused."""

    code = "share_code_unavailable"
    http_status = 503

    def __init__(self, campaign_id: str, tries: int, last_code: str) -> None:
        super().__init__(
            f"no unused share code for a group of campaign {campaign_id!r} after {tries} "
            f"draws (last {last_code!r})"
        )
        self.campaign_id = campaign_id
        self.tries = tries
        self.last_code = last_code


# --- pricing ----------------------------------------------------------------------------


class CouponRefused(DomainError):
    """A coupon code does not apply (expired, not yet valid, minimum spend, used up,
    another student's ...). 409: the request was well formed, the coupon's state or
    conditions refuse it (an unknown code is :class:`CouponNotFound`, 404).

    >>> CouponRefused("SPRING", "used up (100 redemptions)").http_status
    409
    """

    code = "coupon_refused"
    http_status = 409

    def __init__(self, coupon_code: str, reason: str) -> None:
        super().__init__(f"coupon {coupon_code!r} cannot be used: {reason}")
        # not ``code``: that is the error's own stable code, ``"coupon_refused"``
        self.coupon_code = coupon_code
        self.reason = reason


class CouponNotFound(CouponRefused, NotFound):
    """No coupon has this code (a ``CouponRefused`` too, so ``except CouponRefused``
    still catches it).

    >>> error = CouponNotFound("NOPE")
    >>> error.http_status, error.code, error.reason
    (404, 'coupon_not_found', 'unknown code')
    """

    code = "coupon_not_found"
    http_status = 404

    def __init__(self, coupon_code: str) -> None:
        super().__init__(coupon_code, "unknown code")


class DuplicateCouponCode(DuplicateId):
    """A coupon's code is, once canonical (trimmed, case-folded, NFKC), a stored one's."""

    code = "duplicate_coupon_code"

    def __init__(self, code: str, existing: str) -> None:
        super().__init__(
            f"coupon code {code!r} is taken: it matches the stored {existing!r} "
            "(codes ignore case, Unicode width and blanks at the ends)"
        )
        self.coupon_code = code
        self.existing = existing


class OrderNotFound(NotFound):
    code = "order_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class IdempotencyKeyReused(InvalidInput):
    """An idempotency key sent again with other arguments (or to another command): an
    order id (the checkout's key) with other lines, another student, other coupons or
    another currency, or an ``idempotency_key=`` of ``book``, ``cancel``, ``join_group``
    ... (see :mod:`eduengine.service_layer.idempotency`). 409, as a payment API answers a
    key reused with different parameters: the first request stands.

    ``key`` is the key; ``order_id`` is the order id when the key is one (else ``None``).
    """

    code = "idempotency_key_reused"
    http_status = 409

    def __init__(self, key: str, detail: str, *, order: bool = True) -> None:
        if order:
            message = (
                f"order id {key!r} was already used for another checkout ({detail}); "
                "use a new order id for a new order"
            )
        else:
            message = (
                f"idempotency key {key!r} was already used {detail}; use a new key for a "
                "new request"
            )
        super().__init__(message)
        self.key = key
        self.order_id = key if order else None


# --- the catalogue and quotes (issue #27) ---------------------------------------------


class CatalogueItemNotFound(NotFound):
    """No course, package or campaign has this id in the catalogue."""

    code = "catalogue_item_not_found"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"catalogue item {item_id!r} not found")
        self.item_id = item_id


class NotForSale(DomainError):
    """The catalogue has no price for the item in this currency now (no price list
    version covers this moment). 409: the request is well formed, the price lists
    refuse it."""

    code = "not_for_sale"
    http_status = 409

    def __init__(self, item_id: str, currency: str, reason: str = "no price now") -> None:
        super().__init__(f"catalogue item {item_id!r} has no price in {currency}: {reason}")
        self.item_id = item_id
        self.currency = currency


class QuoteNotFound(NotFound):
    """No quote has this id."""

    code = "quote_not_found"

    def __init__(self, quote_id: str) -> None:
        super().__init__(f"quote {quote_id!r} not found")
        self.quote_id = quote_id


class QuoteRefused(DomainError):
    """A quote cannot pay for this command: it was given to another student, is for
    other items (a package quote sent to checkout), or is used by another order. 409:
    the quote id is well formed and exists, its state refuses the command."""

    code = "quote_refused"
    http_status = 409

    def __init__(self, quote_id: str, reason: str) -> None:
        super().__init__(f"quote {quote_id!r} cannot be used: {reason}")
        self.quote_id = quote_id
        self.reason = reason


class QuoteExpired(QuoteRefused):
    """The quote's expiry has passed: ask for a new quote (409, like any state that
    refuses a well-formed request)."""

    code = "quote_expired"

    def __init__(self, quote_id: str, expired_at: str) -> None:
        super().__init__(quote_id, f"it expired at {expired_at}")
        self.expired_at = expired_at


# --- payment methods on file (issue #27) ----------------------------------------------


class PaymentMethodNotFound(NotFound):
    """No payment method on file has this id."""

    code = "payment_method_not_found"

    def __init__(self, method_id: str) -> None:
        super().__init__(f"payment method {method_id!r} not found")
        self.method_id = method_id


class NoPaymentMethod(DomainError):
    """The student has no default payment method on file, or the method named may not
    pay for them (another family's card). 409: add or choose a method, then retry."""

    code = "no_payment_method"
    http_status = 409

    def __init__(self, student_id: str, reason: str = "no default payment method on file") -> None:
        super().__init__(f"student {student_id!r} cannot pay: {reason}")
        self.student_id = student_id
        self.reason = reason


# --- levels -------------------------------------------------------------------------


class UnknownRule(NotFound):
    """No XP rule for this kind of learning event."""

    code = "unknown_rule"

    def __init__(self, kind: str) -> None:
        super().__init__(f"no XP rule for learning events of kind {kind!r}")
        self.kind = kind


class NotRanked(NotFound, KeyError):
    """The student is not on this leaderboard (no XP earned for it).

    Also a ``KeyError``, which is what the in-memory ``Leaderboard`` raises.
    """

    code = "not_ranked"

    def __init__(self, student_id: str, board: str) -> None:
        super().__init__(f"student {student_id!r} is not on leaderboard {board!r}")
        self.student_id = student_id
        self.board = board

    def __str__(self) -> str:
        # KeyError would print the message quoted, as if it were the missing key
        return str(self.args[0])


# --- students and privacy --------------------------------------------------------------


class StudentNotFound(NotFound):
    code = "student_not_found"

    def __init__(self, student_id: str) -> None:
        super().__init__(f"student {student_id!r} not found")
        self.student_id = student_id


class NoCredit(BookingRefused):
    """The student has no active lesson package with a credit left."""

    code = "no_credit"
    http_status = 402

    def __init__(self, student_id: str) -> None:
        super().__init__(f"student {student_id!r} has no active lesson package with credits left")
        self.student_id = student_id


class ClassFull(BookingRefused):
    code = "class_full"

    def __init__(self, class_id: str, capacity: int) -> None:
        super().__init__(f"class {class_id!r} is full ({capacity} students)")
        self.class_id = class_id


class AccessDenied(DomainError, PermissionError):
    """The actor may not read or change this student's record (the attempt is audited)."""

    code = "access_denied"
    http_status = 403


class PayerNotAllowed(AccessDenied):
    """A guardian may pay on a child's behalf only with the "pay" role on their link."""

    code = "payer_not_allowed"

    def __init__(self, payer_id: str, student_id: str) -> None:
        super().__init__(f"guardian {payer_id!r} may not pay for student {student_id!r}")
        self.payer_id = payer_id
        self.student_id = student_id


# --- notices -------------------------------------------------------------------------


class NoticeNotFound(NotFound):
    code = "notice_not_found"

    def __init__(self, notice_id: str) -> None:
        super().__init__(f"notice {notice_id!r} not found")
        self.notice_id = notice_id


class DeliveryFailed(EduEngineError):
    """A notifier could not deliver a notice on a channel (the attempt is retried with
    back-off, then dead-lettered); also raised for a channel no notifier is registered
    for."""

    code = "delivery_failed"
    http_status = 502


# --- community -----------------------------------------------------------------------


class PostNotFound(NotFound):
    code = "post_not_found"

    def __init__(self, post_id: str) -> None:
        super().__init__(f"post {post_id!r} not found")
        self.post_id = post_id


class NotAGroupMember(AccessDenied):
    """Only a group's members post in it."""

    code = "not_a_group_member"

    def __init__(self, member_id: str, group_id: str) -> None:
        super().__init__(f"{member_id!r} is not a member of group {group_id!r}")
        self.member_id = member_id
        self.group_id = group_id


class PostingTooFast(DomainError):
    """A member reached a posting rate limit (发言频率控制); ``retry_after`` is the
    seconds until one more post is allowed."""

    code = "posting_too_fast"
    http_status = 429

    def __init__(self, member_id: str, limit: str, retry_after: int) -> None:
        super().__init__(
            f"{member_id!r} reached the limit of {limit}; try again in {retry_after} s"
        )
        self.member_id = member_id
        self.limit = limit
        self.retry_after = retry_after
# --- learning record ------------------------------------------------------------------


class UnknownKnowledgePoint(InvalidInput):
    """A prerequisite, unit or piece of work names a knowledge point its course's
    curriculum does not have."""

    code = "unknown_knowledge_point"

    def __init__(self, course_id: str, point_ids: Sequence[str]) -> None:
        super().__init__(
            f"course {course_id!r} has no knowledge point(s) {', '.join(sorted(point_ids))}"
        )
        self.course_id = course_id
        self.point_ids = tuple(sorted(point_ids))


class PrerequisiteCycle(InvalidInput):
    """Knowledge points would be prerequisites of themselves (the graph must be acyclic):
    a course's curriculum (``course_id``) or the school's mastery graph. ``cycle`` names
    the loop from a point back to it.

    >>> print(PrerequisiteCycle(["a", "b", "a"], course_id="math"))
    course 'math': knowledge points form a prerequisite cycle: a -> b -> a
    """

    code = "prerequisite_cycle"

    def __init__(self, cycle: Sequence[str], course_id: str | None = None) -> None:
        where = f"course {course_id!r}: " if course_id is not None else ""
        super().__init__(
            f"{where}knowledge points form a prerequisite cycle: {' -> '.join(cycle)}"
        )
        self.course_id = course_id
        self.cycle = tuple(cycle)
        #: the same loop (the name the mastery graph used first)
        self.points = self.cycle


class PrerequisitesDisagree(InvalidInput):
    """A knowledge point would get other prerequisites than the school's graph gives it
    (one graph for the school: a point shared by courses needs the same prerequisites in
    each, and a point of a curriculum is changed through its curriculum).

    >>> print(PrerequisitesDisagree("past-tense", ["numbers"], ["greetings"], "en1"))
    knowledge point 'past-tense' needs ['greetings'] in course 'en1', not ['numbers']
    """

    code = "prerequisites_disagree"

    def __init__(
        self, point_id: str, wanted: Sequence[str], held: Sequence[str], course_id: str
    ) -> None:
        super().__init__(
            f"knowledge point {point_id!r} needs {sorted(held)} in course {course_id!r}, "
            f"not {sorted(wanted)}"
        )
        self.point_id = point_id
        self.course_id = course_id
        self.wanted = tuple(sorted(wanted))
        self.held = tuple(sorted(held))


class UnknownDimension(InvalidInput):
    """An ability dimension the school has not defined."""

    code = "unknown_dimension"

    def __init__(self, dimension_ids: Sequence[str]) -> None:
        super().__init__(
            f"no ability dimension(s) {', '.join(sorted(dimension_ids))} defined by the school"
        )
        self.dimension_ids = tuple(sorted(dimension_ids))


class CurriculumNotFound(NotFound):
    code = "curriculum_not_found"

    def __init__(self, course_id: str) -> None:
        super().__init__(f"course {course_id!r} has no curriculum")
        self.course_id = course_id


class WorkNotFound(NotFound):
    """No homework or assessment of this id (for this student)."""

    code = "work_not_found"

    def __init__(self, work_id: str) -> None:
        super().__init__(f"work {work_id!r} not found")
        self.work_id = work_id


class WorkRefused(InvalidTransition):
    """Homework or an assessment is not in a state that allows this step (submitted and
    waiting to be graded, graded already, ...)."""

    code = "work_refused"

    def __init__(self, work_id: str, message: str) -> None:
        super().__init__(f"work {work_id!r}: {message}")
        self.work_id = work_id


class DeadlinePassed(WorkRefused):
    """A submission after the due time and any late window."""

    code = "deadline_passed"

    def __init__(self, work_id: str, closed_at: str) -> None:
        super().__init__(work_id, f"submissions closed at {closed_at}")
        self.closed_at = closed_at


class AttemptsExhausted(WorkRefused):
    """Every allowed attempt has been submitted."""

    code = "attempts_exhausted"

    def __init__(self, work_id: str, max_attempts: int) -> None:
        super().__init__(work_id, f"all {max_attempts} attempt(s) were used")
        self.max_attempts = max_attempts


class NotSubmitted(WorkRefused):
    """Grading or returning work that has no submission waiting."""

    code = "not_submitted"

    def __init__(self, work_id: str, state: str) -> None:
        super().__init__(work_id, f"no submission waits to be graded (it is {state})")
        self.state = state


class NotAllowedToGrade(AccessDenied):
    """Only the work's teacher or academic staff may grade or return it."""

    code = "not_allowed_to_grade"

    def __init__(self, work_id: str, actor_id: str) -> None:
        super().__init__(f"{actor_id!r} may not grade work {work_id!r}")
        self.work_id = work_id
        self.actor_id = actor_id
# --- service desk ----------------------------------------------------------------------


class TicketNotFound(NotFound):
    code = "ticket_not_found"

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"ticket {ticket_id!r} not found")
        self.ticket_id = ticket_id


class TicketTransitionRefused(InvalidTransition):
    """A ticket command is not allowed in the ticket's state (``close`` an open ticket,
    ``reopen`` a closed one, reply to a resolved one ...)."""

    code = "ticket_transition_refused"

    def __init__(self, ticket_id: str, state: str, action: str) -> None:
        super().__init__(f"ticket {ticket_id!r} is {state}: it cannot be {action}")
        self.ticket_id = ticket_id
        self.state = state
        self.action = action


class LeadNotFound(NotFound):
    code = "lead_not_found"

    def __init__(self, lead_id: str) -> None:
        super().__init__(f"lead {lead_id!r} not found")
        self.lead_id = lead_id


class LeadAlreadyConverted(InvalidTransition):
    code = "lead_already_converted"

    def __init__(self, lead_id: str, student_id: str) -> None:
        super().__init__(f"lead {lead_id!r} already became student {student_id!r}")
        self.lead_id = lead_id
        self.student_id = student_id


class SurveyNotFound(NotFound):
    code = "survey_not_found"

    def __init__(self, survey_id: str) -> None:
        super().__init__(f"survey {survey_id!r} not found")
        self.survey_id = survey_id


class SurveyAlreadyAnswered(InvalidTransition):
    """A survey is answered once (by the student or a guardian)."""

    code = "survey_already_answered"

    def __init__(self, survey_id: str) -> None:
        super().__init__(f"survey {survey_id!r} was already answered")
        self.survey_id = survey_id


class ReviewNotFound(NotFound):
    code = "review_not_found"

    def __init__(self, review_id: str) -> None:
        super().__init__(f"review {review_id!r} not found")
        self.review_id = review_id


# --- growth: experiments and message templates --------------------------------------


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"

    def __init__(self, experiment_key: str) -> None:
        super().__init__(f"experiment {experiment_key!r} not found")
        self.experiment_key = experiment_key


class ExperimentFixed(InvalidTransition):
    """An experiment's variants, weights and coverage are fixed once it is defined: a
    change would move students who were already assigned (define a new key instead)."""

    code = "experiment_fixed"

    def __init__(self, experiment_key: str) -> None:
        super().__init__(
            f"experiment {experiment_key!r} is already defined with other variants, "
            "weights or coverage; define a new experiment key to change them"
        )
        self.experiment_key = experiment_key


class TemplateInvalid(InvalidInput):
    """A message template does not compile, or fails when rendered with sample data
    (refused when it is saved, never when a message is sent)."""

    code = "template_invalid"


class UnknownTemplateVariable(TemplateInvalid):
    """A message template uses a variable (or an attribute of one) its kind does not
    provide."""

    code = "unknown_template_variable"

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class TemplateNotFound(NotFound):
    code = "template_not_found"

    def __init__(self, template_id: str, version: int | None = None) -> None:
        which = "" if version is None else f" version {version}"
        super().__init__(f"message template {template_id!r}{which} not found")
        self.template_id = template_id
        self.version = version


# --- HTTP -----------------------------------------------------------------------------

#: ``type`` URIs of :func:`problem_details` are this prefix plus the error's ``code``.
PROBLEM_TYPE_BASE = "urn:eduengine:problem:"


def problem_details(
    error: EduEngineError, *, type_base: str = PROBLEM_TYPE_BASE, instance: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem details object (``application/problem+json``) for ``error``.

    ``type`` is ``type_base`` plus the error's stable ``code`` (pass your own base, e.g.
    ``"https://school.example/problems/"``, to link to your docs), ``status`` its
    suggested HTTP status, ``detail`` its message; ``code`` and the ids the error
    carries (``slot_id``, ``student_id`` ...) are extension members.

    >>> problem = problem_details(SlotFull("s1", 10))
    >>> problem["status"], problem["code"], problem["slot_id"]
    (409, 'slot_full', 's1')
    >>> problem["type"]
    'urn:eduengine:problem:slot_full'
    """
    out: dict[str, Any] = {
        "type": f"{type_base}{error.code}",
        "title": _title(type(error)),
        "status": error.http_status,
        "detail": str(error),
        "code": error.code,
    }
    if instance is not None:
        out["instance"] = instance
    for name, value in vars(error).items():
        if name.startswith("_") or name in out:
            continue
        if isinstance(value, tuple | list) and all(_plain(v) for v in value):
            out[name] = list(value)
        elif _plain(value):
            out[name] = value
    return out


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _title(cls: type[EduEngineError]) -> str:
    # the code, in words: stable like the code, unlike the message
    return cls.code.replace("_", " ").capitalize()


# --- mastery and the learning path ----------------------------------------------------


# --- milestones: quests, contests, certificates --------------------------------------


class MilestoneNotFound(NotFound):
    """No quest, contest or certificate has this id."""

    code = "milestone_not_found"

    def __init__(self, what: str, milestone_id: str) -> None:
        super().__init__(f"{what} {milestone_id!r} not found")
        self.what = what
        self.milestone_id = milestone_id


class CourseNotMastered(InvalidTransition):
    """A mastery certificate was asked for a course with points not mastered yet."""

    code = "course_not_mastered"

    def __init__(self, course_id: str, missing: list[str]) -> None:
        super().__init__(
            f"course {course_id!r} is not mastered yet: "
            + ", ".join(missing)
            + " below the threshold"
        )
        self.course_id = course_id
        self.missing = tuple(missing)


# --- calendar feed tokens -------------------------------------------------------------


class CalendarTokenNotFound(NotFound):
    """An .ics feed token that was never issued, or was revoked or rotated (the message
    leaves the token out: it is a secret, and logs keep messages)."""

    code = "calendar_token_not_found"

    def __init__(self) -> None:
        super().__init__("no calendar feed has this token (revoked, rotated or never issued)")


# --- encryption at rest and data residency (issue #24) --------------------------------


class WrongRegion(InvalidInput):
    """A store kept for one region was asked to hold a student of another (data
    residency: 数据出境要谨慎处理); nothing was written."""

    code = "wrong_region"

    def __init__(self, student_id: str, region: str, store_region: str) -> None:
        super().__init__(
            f"student {student_id!r} belongs to region {region!r}; this store holds "
            f"region {store_region!r} only"
        )
        self.student_id = student_id
        self.region = region
        self.store_region = store_region


class UnreadableData(EduEngineError):
    """A sealed value could not be decrypted although its data key exists: the master
    key that wrapped it is not in the key provider, or the stored bytes were altered. (A
    value whose data key was deleted, crypto-shredded, reads as absent instead.)"""

    code = "unreadable_data"

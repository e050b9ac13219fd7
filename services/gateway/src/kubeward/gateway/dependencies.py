"""What route handlers are handed by name: the app's long-lived objects, typed.

The lifespans in :mod:`kubeward.gateway.app` put the bus link, the stores and the cluster
client on ``app.state``; :func:`dependencies` (registered on the app) hands each one to any
handler that names it, e.g. ``async def metrics(self, link: NamedDependency[BusLink])``.
Handlers do not read ``state`` themselves; guards, middleware and lifespans still read
``app.state``.

Dependencies are not request parameters: they never appear in the OpenAPI document. A route
must not have a path or query parameter spelled like one of these names (it would be taken
for the dependency).

Cost: the providers take no parameters (they close over the app's ``State``), so a handler
with one dependency pays next to nothing for it. Litestar resolves two or more dependencies
of one handler in an anyio task group, which costs some 80 µs a request (measured): the hot
routes take one.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.app_settings import AppSettings
from kubeward.core.health import Check
from kubeward.core.mongo import Document
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.diagram import DiagramViews
from kubeward.gateway.feed_hub import FeedHub
from kubeward.gateway.invitations import InvitationStore
from kubeward.gateway.kure_feed import KureRelay
from kubeward.gateway.ratelimit import SlidingWindowLimit
from kubeward.gateway.sessions import SessionStore
from kubeward.gateway.settings import Settings
from kubeward.gateway.users import UserStore
from kubeward.kube.client import KubeClient


def dependencies(state: State) -> dict[str, Provide]:
    """Every dependency by the parameter name handlers take it under, read from ``state``
    (the app's) when a handler asks for it: at request time, after the lifespans ran."""

    def link() -> BusLink:
        """The gateway's NATS connection (publish-and-wait, request/reply)."""
        value: BusLink = state.bus
        return value

    def settings() -> Settings:
        """The gateway's own settings, read from the environment at start."""
        value: Settings = state.settings
        return value

    def app_settings() -> AppSettings:
        """The live admin settings (NATS KV), shared by every service."""
        value: AppSettings = state.app_settings
        return value

    def users() -> UserStore:
        """The user accounts (MongoDB)."""
        value: UserStore = state.users
        return value

    def sessions() -> SessionStore:
        """The login sessions (Redis)."""
        value: SessionStore = state.sessions
        return value

    def invitations() -> InvitationStore:
        """The invitation links (MongoDB)."""
        value: InvitationStore = state.invitations
        return value

    def auth_counters() -> AsyncCollection[Document]:
        """The auth counters collection (ids; the first-admin setup lock)."""
        value: AsyncCollection[Document] = state.auth_counters
        return value

    def login_limit() -> SlidingWindowLimit:
        """The login attempts allowed per client (Redis, across replicas)."""
        value: SlidingWindowLimit = state.login_limit
        return value

    def checks() -> dict[str, Check]:
        """The readiness checks (NATS, MongoDB, Redis) by name."""
        value: dict[str, Check] = state.checks
        return value

    def kube() -> KubeClient | None:
        """The Kubernetes API client, ``None`` without a cluster (the cluster views answer
        503 then, after checking their parameters: :func:`~kubeward.gateway.kube.require_kube`)."""
        value: KubeClient | None = getattr(state, "kube", None)
        return value

    def diagram_views() -> DiagramViews:
        """What the diagram routes keep between requests (their cache)."""
        value: DiagramViews = state.diagram_views
        return value

    def feed() -> FeedHub:
        """This process's ``FEED`` consumer, fanning out to ``/api/ws`` clients."""
        value: FeedHub = state.feed
        return value

    def kure_feed() -> KureRelay:
        """The relay of Kure-shaped messages to ``/ws`` clients."""
        value: KureRelay = state.kure_feed
        return value

    providers = (
        link,
        settings,
        app_settings,
        users,
        sessions,
        invitations,
        auth_counters,
        login_limit,
        checks,
        kube,
        diagram_views,
        feed,
        kure_feed,
    )
    return {fn.__name__: Provide(fn, sync_to_thread=False) for fn in providers}

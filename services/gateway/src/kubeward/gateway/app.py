"""The gateway's Litestar application."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.types import Message, Scope
from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis

from kubeward.core import mongo
from kubeward.core.app_settings import AppSettings
from kubeward.gateway.accounts import AuthController, UsersController
from kubeward.gateway.admin import AdminSettingsController
from kubeward.gateway.arkyn_log import ArkynLogController
from kubeward.gateway.arkyn_plural import ArkynPluralController
from kubeward.gateway.auth import DOCS_PATH, require_auth
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.dependencies import dependencies
from kubeward.gateway.diagram import DiagramController, DiagramViews
from kubeward.gateway.errors import http_exception, internal_error
from kubeward.gateway.feed import feed_lifespan, feed_socket
from kubeward.gateway.http_traffic import HttpTrafficController
from kubeward.gateway.invitations import COLLECTION as INVITATIONS
from kubeward.gateway.invitations import InvitationStore
from kubeward.gateway.kguardian import KguardianController
from kubeward.gateway.kube import kube_lifespan
from kubeward.gateway.kure_accounts import InvitationsController, KureAuthController
from kubeward.gateway.kure_admin import KureAdminController
from kubeward.gateway.kure_feed import kure_feed_lifespan, kure_feed_socket
from kubeward.gateway.mirror import MirrorController
from kubeward.gateway.network import NetworkController
from kubeward.gateway.observability import REQUESTS, ConfigController, ObservabilityController
from kubeward.gateway.pod_failures import PodFailuresController
from kubeward.gateway.pod_impact import PodImpactController
from kubeward.gateway.pod_logs import PodLogsController
from kubeward.gateway.pod_traffic import PodTrafficController
from kubeward.gateway.pod_triage import PodTriageController
from kubeward.gateway.ratelimit import SlidingWindowLimit
from kubeward.gateway.security import SecurityController
from kubeward.gateway.sessions import SessionStore
from kubeward.gateway.settings import Settings
from kubeward.gateway.users import COLLECTION as USERS
from kubeward.gateway.users import COUNTERS as AUTH_COUNTERS
from kubeward.gateway.users import UserStore
from kubeward.schemas.settings import KEYS as SETTINGS_KEYS

log = logging.getLogger(__name__)

AUTH_RETRY_SECONDS = 2.0
"""How often start-up retries indexing the auth collections while MongoDB is unreachable."""


async def _redis_ok(redis: Redis) -> bool:
    return bool(await redis.ping())


def create_app(settings: Settings) -> Litestar:
    """Build the app; it connects to the bus on start-up and drains on shutdown."""

    @asynccontextmanager
    async def bus_lifespan(app: Litestar) -> AsyncIterator[None]:
        link = await BusLink.connect(
            settings.nats_url, settings.request_timeout_seconds, settings.nats_stream_replicas
        )
        app.state.bus = link
        app.state.checks["nats"] = link.is_connected
        try:
            yield
        finally:
            await link.close()

    @asynccontextmanager
    async def auth_lifespan(app: Litestar) -> AsyncIterator[None]:
        client = mongo.connect(settings.mongodb_url)
        redis = Redis.from_url(settings.redis_url)
        secret = settings.session_secret or secrets.token_urlsafe(32)
        db = mongo.database(client, settings.mongodb_db)
        app.state.checks["mongodb"] = partial(mongo.ping, client)
        app.state.checks["redis"] = partial(_redis_ok, redis)
        app.state.auth_counters = db[AUTH_COUNTERS]
        app.state.users = UserStore(db[USERS], db[AUTH_COUNTERS])
        app.state.invitations = InvitationStore(db[INVITATIONS], db[AUTH_COUNTERS])
        preparing = asyncio.create_task(_prepare_auth_store(app.state.users, app.state.invitations))
        app.state.sessions = SessionStore(redis, secret, settings.session_ttl_seconds)
        app.state.login_limit = SlidingWindowLimit(
            redis, "login", settings.login_rate_limit, settings.login_rate_window_seconds
        )
        try:
            yield
        finally:
            preparing.cancel()
            await redis.aclose()
            await client.close()

    @asynccontextmanager
    async def settings_lifespan(app: Litestar) -> AsyncIterator[None]:
        secret = settings.settings_secret
        if not secret:
            log.warning("SETTINGS_SECRET is empty: secrets stored now are unreadable after restart")
            secret = secrets.token_urlsafe(32)
        link: BusLink = app.state.bus
        app.state.app_settings = await AppSettings.open(
            link.js, secret, keys=SETTINGS_KEYS, replicas=settings.nats_stream_replicas
        )
        try:
            yield
        finally:
            await app.state.app_settings.close()

    state = State(
        {
            "settings": settings,
            "checks": {},
            "diagram_views": DiagramViews(settings.diagram_cache_seconds),
        }
    )

    async def count_response(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            REQUESTS.labels(scope.get("method", "?"), str(message["status"])).inc()

    return Litestar(
        route_handlers=[
            ObservabilityController,
            ConfigController,
            AuthController,
            UsersController,
            AdminSettingsController,
            PodFailuresController,
            PodImpactController,
            PodLogsController,
            DiagramController,
            PodTrafficController,
            SecurityController,
            MirrorController,
            HttpTrafficController,
            KguardianController,
            KureAdminController,
            feed_socket,
            KureAuthController,
            InvitationsController,
            kure_feed_socket,
            PodTriageController,
            ArkynLogController,
            ArkynPluralController,
            NetworkController,
        ],
        guards=[require_auth],
        lifespan=[
            bus_lifespan,
            settings_lifespan,
            auth_lifespan,
            feed_lifespan,
            kube_lifespan,
            kure_feed_lifespan,
        ],
        state=state,
        dependencies=dependencies(state),
        exception_handlers={HTTPException: http_exception, Exception: internal_error},
        before_send=[count_response],
        openapi_config=OpenAPIConfig(
            title="Kubeward API",
            version="0.1.0",
            path=DOCS_PATH,
            render_plugins=[SwaggerRenderPlugin(path="/"), RedocRenderPlugin(path="/redoc")],
        ),
    )


async def _prepare_auth_store(users: UserStore, invitations: InvitationStore) -> None:
    """Index the auth collections (and give users stored before ids one) once MongoDB
    answers. In the background, so the gateway starts and serves while the database is
    down (its auth calls answer 503 meanwhile) instead of failing its start-up."""
    while True:
        try:
            await users.ensure()
            await invitations.ensure()
            return
        except ConnectionFailure as exc:
            log.warning("auth store not ready, retrying in %ss: %s", AUTH_RETRY_SECONDS, exc)
            await asyncio.sleep(AUTH_RETRY_SECONDS)

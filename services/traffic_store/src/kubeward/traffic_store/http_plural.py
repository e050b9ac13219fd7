"""arkyn's plural routes, answered as arkyn-logs and its panel expect.

Lists page through one index, ``lk`` = ``<parent>|<ts>|<id>``: bounded ranges on one
field, in ``createdAt`` order (the only sort key offered), time windows sized to hold
``page`` pages (see :mod:`kubeward.traffic_store.http_pages`). Totals come from counters;
a filtered list's total is exact when its windows covered the whole range, else a lower
bound that keeps a next page. Answers use the server's names, lowercase ``method``/``level``/
``protocol``, ``createdAt`` as ``"MM/DD/YYYY at hh:mm:ss"`` (UTC) and list meta
``{page, pageLimit, totalItems}``. Headers, bodies and query parameters are JSON texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import mongo
from kubeward.core.mongo import Document
from kubeward.core.windows import LAST_MICROS, matcher, micros
from kubeward.schemas.arkyn import ArkynCommand, ExchangeIn, SourceUpdate
from kubeward.schemas.http_traffic import (
    HttpEntityCreate,
    iso_created_at,
    uuid7,
)
from kubeward.schemas.replies import NULL, Reply, error
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.http_entities import HttpEntities
from kubeward.traffic_store.http_pages import TOP
from kubeward.traffic_store.http_traffic import HTTP_FACETS, HttpTrafficStore
from kubeward.traffic_store.http_views import (
    render_domain,
    render_exchange,
    render_pathname,
    render_record,
    render_source,
    render_traffic,
)

_TOP = TOP
"""Sorts after every character of a ``ts`` or an id."""


class PluralApi:
    """Answers :class:`ArkynCommand` requests from the owned collections."""

    def __init__(self, store: HttpTrafficStore, traffic: AsyncCollection[Document]) -> None:
        self._store = store
        self._ent: HttpEntities = store.entities
        self._traffic = traffic

    async def __call__(self, cmd: ArkynCommand) -> Reply:
        """Dispatch by kind and action; unknown combinations are 405."""
        handler = getattr(self, f"_{cmd.action}_{cmd.kind.replace('-', '_')}", None)
        if handler is None:
            return error(405, f"{cmd.action} is not offered on /{cmd.kind}")
        reply: Reply = await handler(cmd)
        return reply

    # --- generic helpers -------------------------------------------------------

    async def _page(
        self,
        col: AsyncCollection[Document],
        cmd: ArkynCommand,
        parent: str,
        counter: str,
        extra: dict[str, Any] | None = None,
        since: str | None = None,
        until: str | None = None,
        facet_fields: Sequence[str] = (),
        ranked: bool = False,
    ) -> tuple[list[Document], int]:
        """Page ``cmd.page`` in ``lk`` order and the total (see
        :mod:`kubeward.traffic_store.http_pages`): O(page x pageLimit) rows read."""
        found = await self._store.pages.page(
            col,
            parent=parent,
            counter=counter,
            skip=(max(1, cmd.page) - 1) * cmd.page_limit,
            limit=cmd.page_limit,
            extra=extra,
            since=since,
            until=until,
            ascending=cmd.sort_direction == "asc",
            facet_fields=facet_fields,
            ranked=ranked,
        )
        return found.rows, found.total

    @staticmethod
    def _list(cmd: ArkynCommand, rows: list[dict[str, Any]], total: int) -> Reply:
        meta = {"page": cmd.page, "pageLimit": cmd.page_limit, "totalItems": total}
        return Reply(body=msgspec.Raw(msgspec.json.encode({"data": rows, "meta": meta})))

    @staticmethod
    def _one(row: dict[str, Any], status: int = 200) -> Reply:
        return Reply(status=status, body=msgspec.Raw(msgspec.json.encode(row)))

    async def _by_id(
        self, col: AsyncCollection[Document], entity_id: str | None, what: str
    ) -> Document | Reply:
        doc = await col.find_one({"_id": entity_id or ""})
        if doc is None:
            return error(404, f"{what} not found")
        return doc

    async def _delete(
        self, col: AsyncCollection[Document], cmd: ArkynCommand, what: str, counter_of: str
    ) -> Reply:
        doc = await self._by_id(col, cmd.id, what)
        if isinstance(doc, Reply):
            return doc
        result = await col.delete_one({"_id": doc["_id"]})
        if result.deleted_count and counter_of == "traffic":
            traffic = http_counters.traffic(str(doc.get("trafficSourceId")))
            await self._ent.counters.add_times(traffic, [str(doc["ts"])], -1)
        elif result.deleted_count:
            key = {
                "sources": http_counters.sources(),
                "domains": http_counters.domains(str(doc.get("trafficSourceId"))),
                "pathnames": http_counters.pathnames(str(doc.get("domainId"))),
            }[counter_of]
            await self._ent.counters.add(key, -1)
        return Reply(status=200, body=NULL)

    async def _created(self, reply: Reply, col: AsyncCollection[Document], render: Any) -> Reply:
        """Re-read what a singular create stored and answer it in the plural shape."""
        if not reply.ok:
            return reply
        entity_id = msgspec.json.decode(reply.body)["id"]
        doc = await col.find_one({"_id": entity_id})
        if doc is None:
            return error(409, "The entity was removed concurrently; retry")
        return self._one(render(doc))

    async def _source_or_404(self, source_id: str | None) -> Reply | None:
        if await self._ent.source_exists(source_id or ""):
            return None
        return error(404, f"Traffic source {source_id} not found")

    # --- traffic sources -------------------------------------------------------

    async def _list_traffic_sources(self, cmd: ArkynCommand) -> Reply:
        extra = {"name": cmd.filters["name"]} if "name" in cmd.filters else None
        docs, total = await self._page(self._ent.sources, cmd, "", http_counters.sources(), extra)
        return self._list(cmd, [render_source(d) for d in docs], total)

    async def _get_traffic_sources(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.sources, cmd.id, "Traffic source")
        return doc if isinstance(doc, Reply) else self._one(render_source(doc))

    async def _create_traffic_sources(self, cmd: ArkynCommand) -> Reply:
        reply = await self._ent.create(HttpEntityCreate(kind="traffic-source", body=cmd.body))
        return await self._created(reply, self._ent.sources, render_source)

    async def _update_traffic_sources(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.sources, cmd.id, "Traffic source")
        if isinstance(doc, Reply):
            return doc
        try:
            body = msgspec.json.decode(cmd.body, type=SourceUpdate)
        except msgspec.DecodeError as exc:
            return error(400, f"Invalid traffic source: {exc}")
        changes: dict[str, Any] = {"updatedAt": iso_created_at(datetime.now(UTC))}
        if body.name is not None:
            changes["name"] = body.name
        if body.traffic_domain is not None and body.traffic_domain != doc.get("trafficDomain"):
            taken = await self._ent.sources.find_one({"trafficDomain": body.traffic_domain})
            if taken is not None:
                return error(409, f"Traffic domain {body.traffic_domain!r} is already registered")
            changes["trafficDomain"] = body.traffic_domain
        await self._ent.sources.update_one({"_id": doc["_id"]}, {"$set": changes})
        return self._one(render_source(doc | changes))

    async def _delete_traffic_sources(self, cmd: ArkynCommand) -> Reply:
        return await self._delete(self._ent.sources, cmd, "Traffic source", "sources")

    # --- domains and pathnames -------------------------------------------------

    async def _list_domains(self, cmd: ArkynCommand) -> Reply:
        missing = await self._source_or_404(cmd.parent)
        if missing is not None:
            return missing
        extra: dict[str, Any] = {}
        if "protocol" in cmd.filters:
            extra["protocol"] = cmd.filters["protocol"].upper()
        if "value" in cmd.filters:
            extra["value"] = cmd.filters["value"]
        parent = cmd.parent or ""
        counter = http_counters.domains(parent)
        docs, total = await self._page(self._ent.domains, cmd, parent, counter, extra)
        return self._list(cmd, [render_domain(d) for d in docs], total)

    async def _get_domains(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.domains, cmd.id, "Domain")
        return doc if isinstance(doc, Reply) else self._one(render_domain(doc))

    async def _create_domains(self, cmd: ArkynCommand) -> Reply:
        req = HttpEntityCreate(kind="domain", body=cmd.body, traffic_source_id=cmd.parent)
        return await self._created(await self._ent.create(req), self._ent.domains, render_domain)

    async def _delete_domains(self, cmd: ArkynCommand) -> Reply:
        return await self._delete(self._ent.domains, cmd, "Domain", "domains")

    async def _list_pathnames(self, cmd: ArkynCommand) -> Reply:
        missing = await self._source_or_404(cmd.parent)
        if missing is not None:
            return missing
        domain = cmd.domain or ""
        found = await self._ent.domains.find_one({"_id": domain}, {"trafficSourceId": 1})
        if found is None or found["trafficSourceId"] != cmd.parent:
            return error(404, f"Domain {domain} not found in traffic source {cmd.parent}")
        extra = {"value": cmd.filters["value"]} if "value" in cmd.filters else None
        counter = http_counters.pathnames(domain)
        docs, total = await self._page(self._ent.pathnames, cmd, domain, counter, extra)
        return self._list(cmd, [render_pathname(d) for d in docs], total)

    async def _get_pathnames(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.pathnames, cmd.id, "Pathname")
        return doc if isinstance(doc, Reply) else self._one(render_pathname(doc))

    async def _create_pathnames(self, cmd: ArkynCommand) -> Reply:
        req = HttpEntityCreate(
            kind="pathname", body=cmd.body, traffic_source_id=cmd.parent, domain_id=cmd.domain
        )
        reply = await self._ent.create(req)
        return await self._created(reply, self._ent.pathnames, render_pathname)

    async def _delete_pathnames(self, cmd: ArkynCommand) -> Reply:
        return await self._delete(self._ent.pathnames, cmd, "Pathname", "pathnames")

    # --- traffic ---------------------------------------------------------------

    async def _traffic_page(self, cmd: ArkynCommand) -> tuple[list[Document], int] | Reply:
        missing = await self._source_or_404(cmd.parent)
        if missing is not None:
            return missing
        f = cmd.filters
        extra: dict[str, Any] = {}
        for name, field in (("id", "_id"), ("domainId", "domainId"), ("pathnameId", "pathnameId")):
            if name in f:
                extra[field] = f[name]
        if "method" in f:
            extra["method"] = f["method"].upper()
        if "level" in f:
            extra["level"] = f["level"].upper()
        if "status" in f:
            extra["status"] = int(f["status"])
        if "protocol" in f:
            domains = await self._ent.domains.find(
                {
                    "lk": {"$gte": f"{cmd.parent}|", "$lt": f"{cmd.parent}|{_TOP}"},
                    "protocol": f["protocol"].upper(),
                },
                {"_id": 1},
            ).to_list()
            extra["domainId"] = {"$in": [d["_id"] for d in domains]}
        parent = cmd.parent or ""
        if "_id" in extra:
            return await self._traffic_by_id(cmd, parent, extra, f.get("since"), f.get("until"))
        return await self._page(
            self._traffic,
            cmd,
            parent,
            http_counters.traffic(parent),
            extra,
            since=f.get("since"),
            until=f.get("until"),
            facet_fields=HTTP_FACETS,
            ranked=True,
        )

    async def _traffic_by_id(
        self,
        cmd: ArkynCommand,
        parent: str,
        extra: dict[str, Any],
        since: str | None,
        until: str | None,
    ) -> tuple[list[Document], int]:
        """The list filtered by ``id``: that one record if it matches, read by id (walking
        the source for it would read every record of the source when it does not)."""
        doc = await self._traffic.find_one({"_id": extra["_id"]})
        lo = micros(since) if since else 0
        hi = micros(until) if until else LAST_MICROS
        if (
            doc is None
            or doc.get("trafficSourceId") != parent
            or not matcher(extra)(doc)
            or not lo <= micros(str(doc["ts"])) <= hi
        ):
            return [], 0
        return ([doc] if cmd.page <= 1 else []), 1

    async def _list_http_traffics(self, cmd: ArkynCommand) -> Reply:
        page = await self._traffic_page(cmd)
        if isinstance(page, Reply):
            return page
        docs, total = page
        return self._list(cmd, [render_traffic(d) for d in docs], total)

    async def _get_http_traffics(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._traffic, cmd.id, "Http traffic")
        return doc if isinstance(doc, Reply) else self._one(render_traffic(doc))

    async def _delete_http_traffics(self, cmd: ArkynCommand) -> Reply:
        return await self._delete(self._traffic, cmd, "Http traffic", "traffic")

    async def _records(self, docs: list[Document]) -> list[dict[str, Any]]:
        """The composed record view of a page: one ``$in`` read per entity collection."""
        ent = self._ent

        async def by_id(col: AsyncCollection[Document], key: str) -> dict[str, Document]:
            ids = sorted({str(d[key]) for d in docs})
            return {doc["_id"]: doc async for doc in mongo.find_in(col, "_id", ids)}

        domains = await by_id(ent.domains, "domainId")
        pathnames = await by_id(ent.pathnames, "pathnameId")
        requests = await by_id(ent.requests, "requestId")
        responses = await by_id(ent.responses, "responseId")
        return [
            render_record(
                doc,
                domains.get(doc["domainId"]),
                pathnames.get(doc["pathnameId"]),
                requests.get(doc["requestId"]),
                responses.get(doc["responseId"]),
            )
            for doc in docs
        ]

    async def _list_http_traffic_records(self, cmd: ArkynCommand) -> Reply:
        page = await self._traffic_page(cmd)
        if isinstance(page, Reply):
            return page
        docs, total = page
        return self._list(cmd, await self._records(docs), total)

    async def _get_http_traffic_records(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._traffic, cmd.id, "Http traffic record")
        if isinstance(doc, Reply):
            return doc
        return self._one((await self._records([doc]))[0])

    # --- requests and responses ------------------------------------------------

    async def _exchange(self, cmd: ArkynCommand, kind: str) -> Reply:
        try:
            body = msgspec.json.decode(cmd.body, type=ExchangeIn)
        except msgspec.ValidationError as exc:
            return error(400, f"Invalid {kind[:-1]}: {exc}")
        except msgspec.DecodeError as exc:
            return error(400, f"Invalid {kind[:-1]}: malformed JSON: {exc}")
        raw: dict[str, str | None] = {"headers": body.headers, "body": body.body}
        if kind == "requests":
            raw["queryParams"] = body.query_params if body.query_params is not None else "{}"
        doc = await self._ent.store_exchange(
            "request" if kind == "requests" else "response", uuid7(), datetime.now(UTC), raw
        )
        return self._one(render_exchange(doc, kind))

    async def _create_requests(self, cmd: ArkynCommand) -> Reply:
        return await self._exchange(cmd, "requests")

    async def _create_responses(self, cmd: ArkynCommand) -> Reply:
        return await self._exchange(cmd, "responses")

    async def _get_requests(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.requests, cmd.id, "Request")
        return doc if isinstance(doc, Reply) else self._one(render_exchange(doc, "requests"))

    async def _get_responses(self, cmd: ArkynCommand) -> Reply:
        doc = await self._by_id(self._ent.responses, cmd.id, "Response")
        return doc if isinstance(doc, Reply) else self._one(render_exchange(doc, "responses"))

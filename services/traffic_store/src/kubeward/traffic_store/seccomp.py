"""OCI seccomp profiles from the syscalls kguardian's controller observed a pod make."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.traffic_store.inventory import SYSCALLS

_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "x86": ["SCMP_ARCH_X86"],
    "i386": ["SCMP_ARCH_X86"],
    "i686": ["SCMP_ARCH_X86"],
    "arm": ["SCMP_ARCH_ARM"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
}


def architectures(arch: str) -> list[str]:
    """libseccomp's names for ``arch`` as the controller reports it (``uname -m`` or Go's
    ``GOARCH``), the native one first with the compat ABIs the kernel also runs."""
    known = _ARCHITECTURES.get(arch.strip().lower())
    if known is not None:
        return list(known)
    return [f"SCMP_ARCH_{arch.strip().upper()}"] if arch.strip() else []


def profile(syscalls: list[str], arch: str) -> dict[str, Any]:
    """Deny by default (``EPERM``), allow exactly ``syscalls``."""
    names = sorted({s.strip() for s in syscalls if s.strip()})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": architectures(arch),
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    }


async def observed_syscalls(
    db: AsyncDatabase[Document], namespace: str, pod: str
) -> tuple[list[str], str] | None:
    """The pod's stored syscalls and architecture; ``None`` when none were observed."""
    doc = await db[SYSCALLS].find_one({"_id": pod})
    if doc is None or doc.get("pod_namespace") != namespace:
        return None
    names = [s for s in str(doc.get("syscalls") or "").split(",") if s.strip()]
    if not names:
        return None
    return names, str(doc.get("arch") or "")

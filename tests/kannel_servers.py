"""Test helpers: Kannel on loopback (see :mod:`ccm_batch.channels.localservers`)."""
from ccm_batch.channels.localservers import DlrReceiver, FakeSmsc, Kannel, kannel_available, wait_for  # noqa: F401

"""Render stage: painters that turn planned mail pieces of composed pages into print files.

Every backend implements :class:`ccm_batch.render.base.Renderer`; see that module for the event order.
"""

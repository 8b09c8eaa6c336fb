"""The double-entry core: rules (pure), models, the posting service, verify, exports, import."""

"""Telegram adapter (aiogram 3): routers, keyboards, webhook and polling runners."""

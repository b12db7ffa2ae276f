"""Customer messages: bilingual templates (zh-CN, en) with Babel money and dates, and SMS
segment counting (GSM-7 160/153, UCS-2 70/67)."""

"""The words on the customer's payment pages, in zh-CN and en (the customer's language, or the
one they switch to). Polite and plain: these pages are read on a phone, often in a hurry."""

from __future__ import annotations

from billing_core.customers.model import Language

ZH = Language.zh_cn.value
EN = Language.en.value
LANGUAGES = (ZH, EN)

TEXT: dict[str, dict[str, str]] = {
    ZH: {
        "title": "缴纳电费",
        "switch": "English",
        "switch_lang": EN,
        "customer": "户名",
        "account": "户号",
        "bills": "待缴账单",
        "period": "账期",
        "bill_amount": "应缴",
        "due_date": "缴费截止",
        "overdue": "已逾期",
        "late_fees": "违约金",
        "amount_due": "当前应缴金额",
        "computed_now": "金额按您打开本页时的账户余额计算。",
        "pay_now": "立即缴费",
        "expires": "本链接有效期至",
        "nothing_due_title": "当前没有需要缴纳的电费",
        "nothing_due": "谢谢！您的账户目前没有欠费。",
        "invalid_title": "链接已失效",
        "help": "如需帮助，请回复“人工”。",
        "unavailable_title": "暂时无法缴费",
        "unavailable": "支付服务暂时不可用，未产生任何扣款。请稍后再试。",
        "test_mode": "测试模式：使用沙箱收银台，不会产生真实扣款。",
        "sandbox_title": "沙箱收银台（测试）",
        "sandbox_intro": "请选择本次测试支付的结果：",
        "succeed": "支付成功",
        "fail": "支付失败",
        "cancel": "取消支付",
        "amount": "金额",
        "paid_title": "缴费成功",
        "paid": "谢谢！我们已收到您的电费。",
        "receipt_link": "查看电子收据",
        "failed_title": "支付未成功",
        "failed": "本次支付未成功，未产生任何扣款。",
        "cancelled_title": "已取消支付",
        "cancelled": "您已取消本次支付，未产生任何扣款。",
        "expired_title": "本次支付已失效",
        "expired": "这笔支付已失效（账单可能已结清或链接已更新），未产生任何扣款。",
        "open_title": "正在确认您的支付",
        "open": "支付结果确认中，本页会自动刷新。",
        "try_again": "返回缴费页面",
        "receipt_title": "电子收据",
        "payer": "付款人",
        "paid_amount": "收款金额",
        "channel": "支付方式",
        "reference": "交易号",
        "received_at": "收款时间",
        "applied_to": "本次缴费用于",
        "bill_period": "账期 {start} 至 {end} 的电费",
        "credit_added": "预存（用于下期电费）",
        "balance_after": "缴费后应缴余额",
        "credit_after": "缴费后预存余额",
        "receipt_not_found_title": "未找到收据",
        "receipt_not_found": "该收据链接无效。请使用短信或消息中的完整链接。",
        "print_hint": "可使用浏览器的“打印”功能打印或保存为 PDF。",
        "receipt_no": "收据编号",
        "test_receipt": "测试收据：沙箱支付，未发生真实收款。",
    },
    EN: {
        "title": "Pay your electricity bill",
        "switch": "中文",
        "switch_lang": ZH,
        "customer": "Name",
        "account": "Account",
        "bills": "Bills to pay",
        "period": "Period",
        "bill_amount": "Due",
        "due_date": "Due by",
        "overdue": "overdue",
        "late_fees": "Late fees",
        "amount_due": "Amount due now",
        "computed_now": "Worked out from your account as you opened this page.",
        "pay_now": "Pay now",
        "expires": "This link works until",
        "nothing_due_title": "Nothing to pay right now",
        "nothing_due": "Thank you! Your account has nothing due.",
        "invalid_title": "This link is no longer valid",
        "help": "Need help? Reply AGENT.",
        "unavailable_title": "Payments are unavailable",
        "unavailable": "We could not open the payment page. Nothing was charged. "
        "Please try again in a little while.",
        "test_mode": "TEST MODE: payments go to the sandbox checkout; no real money moves.",
        "sandbox_title": "Sandbox checkout (test)",
        "sandbox_intro": "Choose how this test payment ends:",
        "succeed": "Payment succeeds",
        "fail": "Payment fails",
        "cancel": "Cancel payment",
        "amount": "Amount",
        "paid_title": "Payment received",
        "paid": "Thank you! We have received your payment.",
        "receipt_link": "View your e-receipt",
        "failed_title": "Payment did not go through",
        "failed": "The payment did not go through. Nothing was charged.",
        "cancelled_title": "Payment cancelled",
        "cancelled": "You cancelled the payment. Nothing was charged.",
        "expired_title": "This payment has expired",
        "expired": "This payment expired (the bill may already be paid, or the link was "
        "renewed). Nothing was charged.",
        "open_title": "Confirming your payment",
        "open": "We are confirming your payment; this page refreshes by itself.",
        "try_again": "Back to the payment page",
        "receipt_title": "E-receipt",
        "payer": "Paid by",
        "paid_amount": "Amount received",
        "channel": "Paid with",
        "reference": "Reference",
        "received_at": "Received",
        "applied_to": "This payment went to",
        "bill_period": "electricity for {start} – {end}",
        "credit_added": "credit for your next bill",
        "balance_after": "Still due after this payment",
        "credit_after": "In credit after this payment",
        "receipt_not_found_title": "Receipt not found",
        "receipt_not_found": "This receipt link is not valid. Please use the full link from "
        "your message.",
        "print_hint": "Use your browser's Print to print it or save it as a PDF.",
        "receipt_no": "Receipt no.",
        "test_receipt": "TEST RECEIPT: a sandbox payment; no real money was received.",
    },
}

# The invalid-link page is the same for every token (unknown, expired, replaced, paid) and
# every visitor, so it speaks both languages at once.
INVALID_LINK = {
    ZH: "该缴费链接已失效。如需新的链接，请回复 BILL（或“账单”）。",
    EN: "This payment link is no longer valid. Reply BILL for a new one.",
}

CHANNELS: dict[str, dict[str, str]] = {
    ZH: {"sandbox": "沙箱测试支付", "stripe": "银行卡（在线）", "bank": "银行划扣",
         "counter": "营业厅柜台", "atm": "自助终端", "kiosk": "自助缴费机",
         "phone": "电话缴费", "platform": "第三方平台"},
    EN: {"sandbox": "Sandbox (test)", "stripe": "Card (online)", "bank": "Bank direct debit",
         "counter": "Counter", "atm": "ATM", "kiosk": "Kiosk", "phone": "Phone",
         "platform": "Third-party platform"},
}  # fmt: skip

# What a provider shows on its own checkout page.
DESCRIPTIONS = {ZH: "电费 户号{account}", EN: "Electricity, account {account}"}


def display_language(requested: str | None, customer_language: str) -> str:
    """The ?lang= switch when it names a language we speak, else the customer's."""
    if requested is not None and requested in LANGUAGES:
        return requested
    return customer_language if customer_language in LANGUAGES else ZH

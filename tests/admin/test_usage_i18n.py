"""The usage screens in Simplified Chinese: dashboard, usage logs, prices, spend columns."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import UsageLog

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_dashboard_in_chinese(client_admin, make_account):
    make_account(name="broken", status="error")
    text = client_admin.get(reverse("admin:index"), **ZH).content.decode()
    for words in ("每日请求数", "按分组的费用", "账号健康", "提示缓存", "请求模型", "上游模型", "映射", "扣费失败",
                  "状态：", "此时间范围内没有用量。"):
        assert words in text, words
    english = client_admin.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Requests per day" in english and "每日请求数" not in english


def test_usage_logs_prices_and_spend_in_chinese(client_admin, admin_user, make_key):
    UsageLog.objects.create(request_id="z1", user=admin_user, model="m", actual_cost=Decimal("0.001"))
    make_key(name="k")
    logs = client_admin.get(reverse("admin:billing_usagelog_changelist"), **ZH).content.decode()
    assert "导出 CSV" in logs and "请求数（已筛选）" in logs and "模型（请求 ↳ 上游）" in logs
    prices = client_admin.get(reverse("admin:billing_modelprice_changelist"), **ZH).content.decode()
    assert "内置价格（只读）" in prices and "覆盖" in prices
    keys = client_admin.get(reverse("admin:apikeys_apikey_changelist"), **ZH).content.decode()
    assert "花费" in keys and "今日" in keys and "7 天" in keys

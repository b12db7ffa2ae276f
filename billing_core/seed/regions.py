"""Regions, seasons and names of the synthetic population: where customers live, how their
use moves through the year, and the names, streets and businesses they are given."""

from __future__ import annotations

from dataclasses import dataclass

from billing_core.customers.model import SensitivityKind

# ---------------------------------------------------------------------------------------------
# Regions, seasons and names

# Relative monthly consumption, January first: winter heating and summer air conditioning.
# Smooth on purpose: neighbouring months differ by at most ~15 %, so that, with the monthly
# noise below, the ±30 % usage-swing review rule fires on a few per cent of bills (mostly the
# planted anomalies), as a utility's real population does.
MONTHLY_NOISE = 0.05  # sigma of the month-to-month lognormal noise
SEASON_NORTH = (1.25, 1.20, 1.05, 0.92, 0.88, 1.00, 1.15, 1.20, 1.05, 0.92, 1.00, 1.15)
SEASON_SOUTH = (1.05, 1.00, 0.92, 0.88, 0.98, 1.12, 1.25, 1.28, 1.12, 0.98, 0.90, 0.98)
SEASON_US = (1.10, 1.05, 0.95, 0.88, 0.95, 1.08, 1.22, 1.25, 1.10, 0.96, 0.92, 1.02)
SEASON_BUSINESS = (1.00, 0.92, 0.96, 0.96, 1.00, 1.10, 1.22, 1.22, 1.08, 0.98, 0.96, 1.00)


@dataclass(frozen=True)
class Region:
    tariff_code: str
    tou: bool
    season: tuple[float, ...]
    monthly_kwh: float  # a typical three-person household
    cities: tuple[tuple[str, tuple[str, ...]], ...]
    flat_register: bool = True  # False: a two-rate (peak/valley) meter, as in Zhejiang


_BEIJING = (("北京市", ("朝阳区", "海淀区", "东城区", "西城区", "丰台区", "通州区", "昌平区")),)
_ZHEJIANG = (
    ("浙江省杭州市", ("西湖区", "上城区", "拱墅区", "滨江区", "余杭区")),
    ("浙江省宁波市", ("鄞州区", "海曙区", "江北区")),
)
_GUANGDONG = (
    ("广东省广州市", ("天河区", "越秀区", "海珠区", "白云区")),
    ("广东省深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
)
_US = (
    ("Washington, DC", ("20001", "20002", "20003", "20009")),
    ("New York, NY", ("10001", "10011", "10025", "10128")),
    ("Boston, MA", ("02108", "02115", "02130")),
)

REGIONS: dict[str, Region] = {
    "beijing": Region("beijing-residential", False, SEASON_NORTH, 170.0, _BEIJING),
    "zhejiang": Region("zhejiang-residential", False, SEASON_SOUTH, 190.0, _ZHEJIANG),
    "zhejiang-tou": Region(
        "zhejiang-residential-tou", True, SEASON_SOUTH, 190.0, _ZHEJIANG, flat_register=False
    ),
    "guangdong": Region("guangdong-residential", False, SEASON_SOUTH, 210.0, _GUANGDONG),
    "us": Region("us-example-tiered-tou", True, SEASON_US, 850.0, _US),
}
CN_RESIDENTIAL_WEIGHTS = (
    ("beijing", 40),
    ("zhejiang", 20),
    ("zhejiang-tou", 10),
    ("guangdong", 30),
)
BUSINESS_TARIFF = "cn-general-commercial"
CN_REGION_KEYS = ("beijing", "zhejiang", "guangdong")

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_WEIGHTS = (15, 28, 30, 15, 8, 4)
HOUSEHOLD_FACTOR = {1: 0.6, 2: 0.85, 3: 1.0, 4: 1.15, 5: 1.3, 6: 1.4}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力斌宇浩凯鹏晨欣怡子涵梓轩雨桐"
)
ROADS = ("和平路", "建设路", "人民路", "解放路", "长安街", "光明路", "新华路", "文化路", "青年路")
FIRST_NAMES = (
    "Olivia", "Liam", "Ava", "Noah", "Sophia", "James", "Mia", "Lucas", "Amelia", "Ethan",
    "Harper", "Mason", "Ella", "Logan", "Grace", "Daniel", "Chloe", "Henry", "Nora", "Samuel",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Walker",
    "Hall", "Young", "King",
)  # fmt: skip
STREETS = ("Maple", "Oak", "Cedar", "Elm", "Pine", "Walnut", "Chestnut", "Spruce", "Willow")
BUSINESS_PREFIXES = ("青禾", "远航", "恒川", "星河", "云帆", "嘉木", "明泉", "瑞丰", "启航", "松石")
BUSINESS_KINDS = (
    "便利店",
    "餐饮有限公司",
    "服装店",
    "五金商行",
    "美容店",
    "药房",
    "文具店",
    "面包坊",
)
GROUP_KINDS = ("连锁超市集团", "餐饮集团", "药业连锁集团", "酒店管理集团")
SENSITIVITY_NOTES = {
    SensitivityKind.medical_equipment: ("家中使用制氧机", "uses a home oxygen concentrator"),
    SensitivityKind.elderly_alone: ("独居老人", "elderly, living alone"),
    SensitivityKind.hardship: ("低保户", "registered hardship"),
    SensitivityKind.infant: ("家有婴儿", "an infant in the household"),
}

"""``ReportTimeZone`` values -> UTC offset and the ``Time Zone:`` header text.

Only the Pacific text is documented (``guides/reports.md``: "(GMT-08:00) Pacific Time (US & Canada);
Tijuana"); Microsoft does not document the display text of the other 74 values (reporting README §7), so
the emulator uses the matching Windows time-zone display names. Offsets are standard time (no DST): the
time zone only decides what "today" is for predefined periods.
"""

from __future__ import annotations

from datetime import timedelta

DEFAULT_TIME_ZONE = "PacificTimeUSCanadaTijuana"

# name: (offset in minutes, display text without the "(GMT±hh:mm) " prefix)
_ZONES: dict[str, tuple[int, str]] = {
    "Nukualofa": (780, "Nuku'alofa"),
    "FijiKamchatkaMarshallIsland": (720, "Fiji, Kamchatka, Marshall Is."),
    "AucklandWellington": (720, "Auckland, Wellington"),
    "MagadanSolomonIslandNewCaledonia": (660, "Magadan, Solomon Is., New Caledonia"),
    "Vladivostok": (600, "Vladivostok"),
    "Hobart": (600, "Hobart"),
    "GuamPortMoresby": (600, "Guam, Port Moresby"),
    "CanberraMelbourneSydney": (600, "Canberra, Melbourne, Sydney"),
    "Brisbane": (600, "Brisbane"),
    "Darwin": (570, "Darwin"),
    "Adelaide": (570, "Adelaide"),
    "Yakutsk": (540, "Yakutsk"),
    "Seoul": (540, "Seoul"),
    "OsakaSapporoTokyo": (540, "Osaka, Sapporo, Tokyo"),
    "Taipei": (480, "Taipei"),
    "Perth": (480, "Perth"),
    "KualaLumpurSingapore": (480, "Kuala Lumpur, Singapore"),
    "IrkutskUlaanBataar": (480, "Irkutsk, Ulaan Bataar"),
    "BeijingChongqingHongKongUrumqi": (480, "Beijing, Chongqing, Hong Kong, Urumqi"),
    "Krasnoyarsk": (420, "Krasnoyarsk"),
    "BangkokHanoiJakarta": (420, "Bangkok, Hanoi, Jakarta"),
    "Rangoon": (390, "Rangoon"),
    "SriJayawardenepura": (330, "Sri Jayawardenepura"),
    "AstanaDhaka": (360, "Astana, Dhaka"),
    "AlmatyNovosibirsk": (360, "Almaty, Novosibirsk"),
    "Kathmandu": (345, "Kathmandu"),
    "ChennaiKolkataMumbaiNewDelhi": (330, "Chennai, Kolkata, Mumbai, New Delhi"),
    "IslandamabadKarachiTashkent": (300, "Islamabad, Karachi, Tashkent"),
    "Ekaterinburg": (300, "Ekaterinburg"),
    "Kabul": (270, "Kabul"),
    "BakuTbilisiYerevan": (240, "Baku, Tbilisi, Yerevan"),
    "AbuDhabiMuscat": (240, "Abu Dhabi, Muscat"),
    "Tehran": (210, "Tehran"),
    "Nairobi": (180, "Nairobi"),
    "MoscowStPetersburgVolgograd": (180, "Moscow, St. Petersburg, Volgograd"),
    "KuwaitRiyadh": (180, "Kuwait, Riyadh"),
    "Baghdad": (180, "Baghdad"),
    "Jerusalem": (120, "Jerusalem"),
    "HelsinkiKyivRigaSofiaTallinnVilnius": (120, "Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius"),
    "HararePretoria": (120, "Harare, Pretoria"),
    "Cairo": (120, "Cairo"),
    "Bucharest": (120, "Bucharest"),
    "AthensIslandanbulMinsk": (120, "Athens, Istanbul, Minsk"),
    "WestCentralAfrica": (60, "West Central Africa"),
    "SarajevoSkopjeWarsawZagreb": (60, "Sarajevo, Skopje, Warsaw, Zagreb"),
    "BrusselsCopenhagenMadridParis": (60, "Brussels, Copenhagen, Madrid, Paris"),
    "BelgradeBratislavaBudapestLjubljanaPrague": (60, "Belgrade, Bratislava, Budapest, Ljubljana, Prague"),
    "AmsterdamBerlinBernRomeStockholmVienna": (60, "Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"),
    "CasablancaMonrovia": (0, "Casablanca, Monrovia"),
    "GreenwichMeanTimeDublinEdinburghLisbonLondon": (
        0,
        "Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London",
    ),
    "Azores": (-60, "Azores"),
    "CapeVerdeIsland": (-60, "Cape Verde Is."),
    "MidAtlantic": (-120, "Mid-Atlantic"),
    "Brasilia": (-180, "Brasilia"),
    "BuenosAiresGeorgetown": (-180, "Buenos Aires, Georgetown"),
    "Greenland": (-180, "Greenland"),
    "Newfoundland": (-210, "Newfoundland"),
    "AtlanticTimeCanada": (-240, "Atlantic Time (Canada)"),
    "CaracasLaPaz": (-240, "Caracas, La Paz"),
    "Santiago": (-240, "Santiago"),
    "BogotaLimaQuito": (-300, "Bogota, Lima, Quito"),
    "EasternTimeUSCanada": (-300, "Eastern Time (US & Canada)"),
    "IndianaEast": (-300, "Indiana (East)"),
    "CentralAmerica": (-360, "Central America"),
    "CentralTimeUSCanada": (-360, "Central Time (US & Canada)"),
    "GuadalajaraMexicoCityMonterrey": (-360, "Guadalajara, Mexico City, Monterrey"),
    "Saskatchewan": (-360, "Saskatchewan"),
    "Arizona": (-420, "Arizona"),
    "ChihuahuaLaPazMazatlan": (-420, "Chihuahua, La Paz, Mazatlan"),
    "MountainTimeUSCanada": (-420, "Mountain Time (US & Canada)"),
    "PacificTimeUSCanadaTijuana": (-480, "Pacific Time (US & Canada); Tijuana"),
    "Alaska": (-540, "Alaska"),
    "Hawaii": (-600, "Hawaii"),
    "MidwayIslandandSamoa": (-660, "Midway Island, Samoa"),
    "InternationalDateLineWest": (-720, "International Date Line West"),
}

TIME_ZONES: frozenset[str] = frozenset(_ZONES)


def utc_offset(zone: str) -> timedelta:
    return timedelta(minutes=_ZONES[zone][0])


def display_name(zone: str) -> str:
    """``(GMT-08:00) Pacific Time (US & Canada); Tijuana`` for the header's ``Time Zone:`` line."""
    minutes, text = _ZONES[zone]
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"(GMT{sign}{hours:02d}:{rest:02d}) {text}"

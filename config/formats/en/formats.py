"""One date-time format for the whole admin, with the zone shown (core/display.py `when` uses it too).
The same figures in every language: zh_Hans/formats.py imports these."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"

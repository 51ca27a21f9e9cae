"""Static-file finders that treat a path leaving their directory as "not found".

Django's finders raise SuspiciousFileOperation for `/static/../..`; the static-files handler turns only
Http404 into an answer, so without this such a path is a 500. Not found (404) is the truthful answer.
"""

from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation


class _Contained:
    def find(self, path, find_all=False, **kwargs):
        try:
            return super().find(path, find_all=find_all, **kwargs)
        except SuspiciousFileOperation:
            return []  # what the finders answer for "not here", whichever find_all


class FileSystemFinder(_Contained, finders.FileSystemFinder):
    pass


class AppDirectoriesFinder(_Contained, finders.AppDirectoriesFinder):
    pass

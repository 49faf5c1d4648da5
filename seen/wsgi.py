import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seen.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: say the dangerous ones where the operator reads.
from shares.checks import trusted_proxy_count_warning  # noqa: E402

if (warning := trusted_proxy_count_warning()) is not None:
    logging.getLogger("seen").warning(warning)

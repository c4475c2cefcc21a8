"""/favicon.ico, which browsers ask for on every page, leads to the console's SVG icon."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static


def test_favicon_ico_is_a_permanent_redirect_to_the_svg_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == static("console/favicon.svg")


def test_the_icon_is_an_svg_drawing():
    path = finders.find("console/favicon.svg")

    assert path, "console/static/console/favicon.svg is not found by the static finders"
    root = ElementTree.parse(path).getroot()  # noqa: S314  (our own file)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 32 32"
    assert len(list(root)) >= 2  # something is drawn


@pytest.mark.django_db
def test_console_pages_link_the_icon(client):
    page = client.get("/console/login/")

    assert page.status_code == 200
    link = f'<link rel="icon" href="{static("console/favicon.svg")}" type="image/svg+xml">'
    assert link in page.content.decode()

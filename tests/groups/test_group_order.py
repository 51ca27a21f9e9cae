import pytest

from groups.models import Group


@pytest.mark.django_db
def test_groups_order_by_sort_order_then_id():
    a = Group.objects.create(name="A", sort_order=10)
    b = Group.objects.create(name="B")
    c = Group.objects.create(name="C")
    assert b.sort_order == 0  # new groups get 0 and come first
    assert list(Group.objects.all()) == [b, c, a]


@pytest.mark.django_db
def test_set_sort_orders_is_one_statement(django_assert_num_queries):
    a, b, c = (Group.objects.create(name=n) for n in "ABC")
    with django_assert_num_queries(1):
        Group.objects.set_sort_orders({c.pk: 0, b.pk: 10, a.pk: 20})
    assert list(Group.objects.values_list("name", flat=True)) == ["C", "B", "A"]

"""Service items (政务服务事项) with the fee items they charge and at which stage, waiver rules
of fee items, and what an order records of both: its service item and stage, each line's
standard, rule and approver, and the waived status of an order with nothing to pay.

The existing lists of waiver reasons become rules in the next migration."""

import django.db.models.deletion
from django.db import migrations, models

from core.reference_data import track_changes_sql

CACHED_TABLES = ("billing_serviceitem", "billing_serviceitemfee", "billing_waiverrule")

# A fee of a service item declared free of charge cannot exist: the fee's always-false
# service_item_no_fee must find the item's (id, no_fee), so neither can a fee be added to a
# free item nor an item with fees be declared free.
FEES_OF_CHARGING_ITEMS_ONLY = (
    "ALTER TABLE billing_serviceitemfee ADD CONSTRAINT service_item_fee_item_charges "
    "FOREIGN KEY (service_item_id, service_item_no_fee) "
    "REFERENCES billing_serviceitem (id, no_fee) DEFERRABLE INITIALLY DEFERRED;",
    "ALTER TABLE billing_serviceitemfee DROP CONSTRAINT service_item_fee_item_charges;",
)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0021_longer_pay_url'),
        ('core', '0003_reference_data_version'),
    ]

    operations = [
        migrations.CreateModel(
            name='ServiceItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(help_text='事项编码', max_length=64, unique=True)),
                ('name', models.CharField(max_length=200)),
                ('no_fee', models.BooleanField(default=False, help_text='Declared free of charge (不收费): it has no fee items.')),
                ('active', models.BooleanField(default=True)),
            ],
            options={
                'ordering': ['code'],
            },
        ),
        migrations.CreateModel(
            name='ServiceItemFee',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('stage', models.CharField(choices=[('acceptance', 'acceptance'), ('completion', 'completion'), ('certificate', 'certificate collection')], max_length=16)),
                ('service_item_no_fee', models.BooleanField(default=False, editable=False)),
            ],
            options={
                'ordering': ['service_item_id', 'stage', 'fee_item_id'],
            },
        ),
        migrations.CreateModel(
            name='WaiverRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=200)),
                ('label', models.CharField(help_text='The reason, as the policy states it.', max_length=200)),
                ('kind', models.CharField(choices=[('half', 'half the standard'), ('exempt', 'exempt'), ('reduced_to', 'reduced to a set amount'), ('reduction_allowed', 'reduced by approval')], max_length=20)),
                ('reduced_amount', models.BigIntegerField(blank=True, help_text='Per unit, in fen: what a reduced_to rule charges.', null=True)),
                ('active', models.BooleanField(default=True)),
            ],
            options={
                'ordering': ['fee_item_id', 'code'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='paymentorder',
            name='order_amount_positive',
        ),
        migrations.RemoveConstraint(
            model_name='paymentorder',
            name='order_status_valid',
        ),
        migrations.AddField(
            model_name='paymentorder',
            name='stage',
            field=models.CharField(blank=True, choices=[('acceptance', 'acceptance'), ('completion', 'completion'), ('certificate', 'certificate collection')], db_default='', default='', help_text='The stage of the case its fee items are charged at; blank without an item.', max_length=16),
        ),
        migrations.AddField(
            model_name='paymentorderline',
            name='standard_unit_amount',
            field=models.BigIntegerField(blank=True, help_text='The standard per unit before any waiver, in fen (for a range, the amount assessed in it); unknown only for waived lines made before it was kept.', null=True),
        ),
        migrations.AddField(
            model_name='paymentorderline',
            name='waiver_approval_ref',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddField(
            model_name='paymentorderline',
            name='waiver_approved_by',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.AlterField(
            model_name='paymentorder',
            name='status',
            field=models.CharField(choices=[('unpaid', 'unpaid'), ('paying', 'paying'), ('paid', 'paid'), ('cancelled', 'cancelled'), ('expired', 'expired'), ('partially_refunded', 'partially refunded'), ('refunded', 'refunded'), ('waived', 'waived')], default='unpaid', max_length=20),
        ),
        migrations.AddField(
            model_name='serviceitem',
            name='department',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='service_items', to='billing.department'),
        ),
        migrations.AddField(
            model_name='paymentorder',
            name='service_item',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='billing.serviceitem'),
        ),
        migrations.AddConstraint(
            model_name='paymentorder',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('amount__gt', 0), models.Q(('status', 'waived'), _negated=True)), models.Q(('amount', 0), ('status', 'waived')), _connector='OR'), name='order_amount_positive_unless_waived'),
        ),
        migrations.AddConstraint(
            model_name='paymentorder',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['unpaid', 'paying', 'paid', 'cancelled', 'expired', 'partially_refunded', 'refunded', 'waived'])), name='order_status_valid'),
        ),
        migrations.AddField(
            model_name='serviceitemfee',
            name='fee_item',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.feeitem'),
        ),
        migrations.AddField(
            model_name='serviceitemfee',
            name='service_item',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='fees', to='billing.serviceitem'),
        ),
        migrations.AddField(
            model_name='waiverrule',
            name='fee_item',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='waiver_rules', to='billing.feeitem'),
        ),
        migrations.AddField(
            model_name='paymentorderline',
            name='waiver_rule',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.waiverrule'),
        ),
        migrations.AddConstraint(
            model_name='paymentorderline',
            constraint=models.CheckConstraint(condition=models.Q(('standard_unit_amount__isnull', True), ('unit_amount', models.F('standard_unit_amount')), models.Q(('unit_amount__lte', models.F('standard_unit_amount')), ('waiver_rule__isnull', False)), _connector='OR'), name='line_below_its_standard_only_by_waiver'),
        ),
        migrations.AddConstraint(
            model_name='serviceitem',
            constraint=models.UniqueConstraint(fields=('id', 'no_fee'), name='service_item_id_no_fee'),
        ),
        migrations.AddConstraint(
            model_name='serviceitemfee',
            constraint=models.UniqueConstraint(fields=('service_item', 'fee_item'), name='service_item_fee_once_per_item'),
        ),
        migrations.AddConstraint(
            model_name='serviceitemfee',
            constraint=models.CheckConstraint(condition=models.Q(('stage__in', ['acceptance', 'completion', 'certificate'])), name='service_item_fee_stage_valid'),
        ),
        migrations.AddConstraint(
            model_name='serviceitemfee',
            constraint=models.CheckConstraint(condition=models.Q(('service_item_no_fee', False)), name='service_item_fee_of_a_charging_item'),
        ),
        migrations.AddConstraint(
            model_name='waiverrule',
            constraint=models.UniqueConstraint(fields=('fee_item', 'code'), name='waiver_rule_code_unique_per_fee_item'),
        ),
        migrations.AddConstraint(
            model_name='waiverrule',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['half', 'exempt', 'reduced_to', 'reduction_allowed'])), name='waiver_rule_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='waiverrule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'reduced_to'), ('reduced_amount__gt', 0)), models.Q(models.Q(('kind', 'reduced_to'), _negated=True), ('reduced_amount__isnull', True)), _connector='OR'), name='waiver_rule_reduced_amount_with_reduced_to_only'),
        ),
        migrations.RunSQL(*FEES_OF_CHARGING_ITEMS_ONLY),
        *(migrations.RunSQL(*track_changes_sql(table)) for table in CACHED_TABLES),
    ]

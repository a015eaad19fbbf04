from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [
        migrations.CreateModel(
            name="Signal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("symbol", models.CharField(max_length=32)),
                ("action", models.CharField(max_length=8)),
                ("qty", models.IntegerField(default=1)),
                ("status", models.CharField(default="new", max_length=16)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "signals"},
        ),
    ]

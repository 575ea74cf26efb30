from django.contrib import admin

from items.models import Comment, Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["title", "owner"]
    filter_horizontal = ["watchers"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["item", "author", "text", "created"]

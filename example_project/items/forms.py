from django import forms


class CommentForm(forms.Form):
    text = forms.CharField(max_length=500, strip=True, widget=forms.Textarea(attrs={"rows": 2}))

// Progressive enhancement of the search form's CPV codes input: suggests codes held by
// suppliers on the register for the code being typed (the last one in the list). Without
// this file the input is plain text and the search works the same.
//
// The ARIA 1.2 combobox pattern: the input is the combobox, the suggestions a listbox,
// arrow keys move the active option (aria-activedescendant), Enter or a click picks it,
// Escape closes; a polite live region says how many suggestions there are. No inline
// styles (the Content-Security-Policy forbids them): the list is shown and hidden with the
// `hidden` attribute and the active option marked with GOV.UK Frontend's bold utility.

const DEBOUNCE_MS = 200
const MIN_DIGITS = 2
const ACTIVE_CLASS = 'govuk-!-font-weight-bold'

function lastToken (value) {
  const match = value.match(/([^\s,;]*)$/)
  return match ? match[1] : ''
}

function replaceLastToken (value, code) {
  const token = lastToken(value)
  return value.slice(0, value.length - token.length) + code + ', '
}

function enhance (input) {
  const source = input.dataset.source
  if (!source || !window.fetch) return

  const listId = `${input.id}-suggestions`
  const list = document.createElement('ul')
  list.id = listId
  list.className = 'govuk-list govuk-body-s govuk-!-margin-top-1'
  list.setAttribute('role', 'listbox')
  list.setAttribute('aria-label', 'Suggested CPV codes')
  list.hidden = true

  const status = document.createElement('div')
  status.className = 'govuk-visually-hidden'
  status.setAttribute('aria-live', 'polite')
  status.setAttribute('role', 'status')

  input.insertAdjacentElement('afterend', list)
  list.insertAdjacentElement('afterend', status)
  input.setAttribute('role', 'combobox')
  input.setAttribute('aria-autocomplete', 'list')
  input.setAttribute('aria-expanded', 'false')
  input.setAttribute('aria-controls', listId)

  let options = []
  let active = -1
  let timer = null
  let request = 0

  function close () {
    list.hidden = true
    list.replaceChildren()
    options = []
    active = -1
    input.setAttribute('aria-expanded', 'false')
    input.removeAttribute('aria-activedescendant')
  }

  function setActive (index) {
    options.forEach((option, i) => {
      const on = i === index
      option.setAttribute('aria-selected', on ? 'true' : 'false')
      option.classList.toggle(ACTIVE_CLASS, on)
    })
    active = index
    if (index >= 0) {
      input.setAttribute('aria-activedescendant', options[index].id)
    } else {
      input.removeAttribute('aria-activedescendant')
    }
  }

  function pick (index) {
    const code = options[index] && options[index].dataset.code
    if (!code) return
    input.value = replaceLastToken(input.value, code)
    close()
    input.focus()
  }

  function show (codes) {
    list.replaceChildren()
    options = codes.map((item, i) => {
      const option = document.createElement('li')
      option.id = `${listId}-${i}`
      option.dataset.code = item.code
      option.setAttribute('role', 'option')
      option.setAttribute('aria-selected', 'false')
      option.textContent = `${item.code} – held by ${item.suppliers} ${item.suppliers === 1 ? 'supplier' : 'suppliers'}`
      option.addEventListener('mousedown', (event) => {
        event.preventDefault() // keep focus in the input
        pick(i)
      })
      list.appendChild(option)
      return option
    })
    active = -1
    list.hidden = options.length === 0
    input.setAttribute('aria-expanded', options.length ? 'true' : 'false')
    status.textContent = options.length
      ? `${options.length} CPV ${options.length === 1 ? 'code' : 'codes'} suggested. Use the up and down arrows to choose.`
      : 'No CPV codes suggested.'
  }

  async function suggest () {
    const digits = lastToken(input.value).replace(/\D/g, '').slice(0, 8)
    if (digits.length < MIN_DIGITS) {
      close()
      return
    }
    const mine = ++request
    try {
      const response = await fetch(`${source}?q=${encodeURIComponent(digits)}`, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      })
      if (!response.ok || mine !== request) return
      const data = await response.json()
      if (mine === request) show(Array.isArray(data.codes) ? data.codes : [])
    } catch (error) {
      close() // suggestions are a nicety: typing still works
    }
  }

  input.addEventListener('input', () => {
    window.clearTimeout(timer)
    timer = window.setTimeout(suggest, DEBOUNCE_MS)
  })
  input.addEventListener('keydown', (event) => {
    if (list.hidden || !options.length) return
    if (event.key === 'ArrowDown') {
      event.preventDefault()
      setActive((active + 1) % options.length)
    } else if (event.key === 'ArrowUp') {
      event.preventDefault()
      setActive(active <= 0 ? options.length - 1 : active - 1)
    } else if (event.key === 'Enter' && active >= 0) {
      event.preventDefault() // pick the code rather than submit the form
      pick(active)
    } else if (event.key === 'Escape') {
      event.preventDefault()
      close()
    }
  })
  input.addEventListener('blur', () => window.setTimeout(close, 100))
}

document.querySelectorAll('input[data-module="app-cpv-autocomplete"]').forEach(enhance)
